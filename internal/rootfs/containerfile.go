package rootfs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Spec is what a root filesystem is built from: the part of a
// Containerfile's final stage that decides the image's contents and how it
// starts, minus the files it copies in, which the caller adds itself.
type Spec struct {
	// Suite is the Debian release the final stage starts from, such as
	// "bookworm" for debian:bookworm-slim.
	Suite string
	// Packages are the packages the final stage installs, sorted and
	// without duplicates.
	Packages []string
	// Entrypoint is the final stage's ENTRYPOINT, in exec form.
	Entrypoint []string
}

// instruction is one logical line of a Containerfile: continuation lines
// joined, comments dropped.
type instruction struct {
	line int    // where it starts, counting from 1
	verb string // upper case, such as "RUN"
	args string
}

// stage is the instructions from one FROM up to the next.
type stage struct {
	from instruction
	body []instruction
}

// finalVerbs are the instructions the final stage may use. Anything else
// (ENV, USER, WORKDIR, CMD, ...) would change the image in a way a Spec
// cannot carry, so the parser refuses it rather than build a different
// image. Earlier stages only build files for COPY --from, so any
// instruction is fine there.
var finalVerbs = map[string]bool{"RUN": true, "COPY": true, "ENTRYPOINT": true}

// ParseContainerfile reads the Spec of a Containerfile's final stage. It is
// strict: it knows the constructs of this repository's Containerfile (FROM
// a Debian image, RUN lines of apt-get joined by &&, COPY, ENTRYPOINT in
// exec form) and reports anything else in the final stage as an error
// naming the line, because a Spec that silently dropped an instruction
// would describe a different image.
func ParseContainerfile(r io.Reader) (Spec, error) {
	ins, err := instructions(r)
	if err != nil {
		return Spec{}, err
	}
	st, err := finalStage(ins)
	if err != nil {
		return Spec{}, err
	}
	return st.spec()
}

// instructions splits a Containerfile into logical lines. A line ending in
// a backslash continues on the next; comment lines inside a continuation
// are skipped, as the Containerfile format specifies.
func instructions(r io.Reader) ([]instruction, error) {
	var (
		out     []instruction
		pending *instruction
		n       int
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		body, more := strings.CutSuffix(text, `\`)
		if pending == nil {
			verb, args, _ := strings.Cut(body, " ")
			pending = &instruction{line: n, verb: strings.ToUpper(verb), args: strings.TrimSpace(args)}
		} else {
			pending.args = strings.TrimSpace(pending.args + " " + strings.TrimSpace(body))
		}
		if !more {
			out = append(out, *pending)
			pending = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the Containerfile: %w", err)
	}
	if pending != nil {
		return nil, errorAt(pending.line, "%s continues past the end of the file", pending.verb)
	}
	return out, nil
}

// finalStage returns the stage that becomes the image.
func finalStage(ins []instruction) (stage, error) {
	var st stage
	found := false
	for _, in := range ins {
		if in.verb == "FROM" {
			st, found = stage{from: in}, true
			continue
		}
		if !found {
			return stage{}, errorAt(in.line, "%s before the first FROM", in.verb)
		}
		st.body = append(st.body, in)
	}
	if !found {
		return stage{}, fmt.Errorf("no FROM instruction")
	}
	return st, nil
}

// spec reads the Spec from the final stage.
func (st stage) spec() (Spec, error) {
	var s Spec
	var err error
	if s.Suite, err = parseFrom(st.from); err != nil {
		return Spec{}, err
	}
	for _, in := range st.body {
		if !finalVerbs[in.verb] {
			return Spec{}, errorAt(in.line, "%s in the final stage is not supported", in.verb)
		}
		switch in.verb {
		case "RUN":
			pkgs, err := parseRun(in)
			if err != nil {
				return Spec{}, err
			}
			s.Packages = append(s.Packages, pkgs...)
		case "ENTRYPOINT":
			// A later ENTRYPOINT replaces an earlier one, as in a build.
			if s.Entrypoint, err = parseEntrypoint(in); err != nil {
				return Spec{}, err
			}
		}
	}
	if len(s.Packages) == 0 {
		return Spec{}, errorAt(st.from.line, "the final stage starting here has no apt-get install")
	}
	if s.Entrypoint == nil {
		return Spec{}, errorAt(st.from.line, "the final stage starting here has no ENTRYPOINT")
	}
	slices.Sort(s.Packages)
	s.Packages = slices.Compact(s.Packages)
	return s, nil
}

// suitePattern matches a Debian suite or codename; a version number such
// as "12" is a valid image tag but not something debootstrap knows.
var suitePattern = regexp.MustCompile(`^[a-z]+$`)

// parseFrom reads the suite from a final FROM of debian:<suite> or
// debian:<suite>-slim, with or without the docker.io/library prefix. Both
// map to a minbase bootstrap: the slim image differs only in dropping
// documentation.
func parseFrom(in instruction) (string, error) {
	f := strings.Fields(in.args)
	if len(f) != 1 && (len(f) != 3 || !strings.EqualFold(f[1], "AS")) {
		return "", errorAt(in.line, "FROM %q: want an image, optionally followed by AS name", in.args)
	}
	ref := f[0]
	if strings.Contains(ref, "@") {
		return "", errorAt(in.line, "FROM %s: images pinned by digest are not supported", ref)
	}
	repo, tag, ok := strings.Cut(ref, ":")
	repo = strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "library/")
	if repo != "debian" || !ok {
		return "", errorAt(in.line, "FROM %s: the final stage must start from debian:<suite>", ref)
	}
	suite := strings.TrimSuffix(tag, "-slim")
	if !suitePattern.MatchString(suite) {
		return "", errorAt(in.line, "FROM %s: tag %q does not name a Debian suite", ref, tag)
	}
	return suite, nil
}

// ignoredCommands are the RUN commands of the final stage that need no
// counterpart in a Spec: refreshing apt's lists before installing, and the
// cleanup Build does itself.
var ignoredCommands = map[string]bool{
	"apt-get update":              true,
	"apt-get clean":               true,
	"rm -rf /var/lib/apt/lists/*": true,
}

// parseRun returns the packages a final-stage RUN installs. It accepts
// only commands joined by &&, each either an apt-get install or one of
// ignoredCommands: any other command would change the image in a way the
// Spec does not record.
func parseRun(in instruction) ([]string, error) {
	if strings.HasPrefix(in.args, "[") {
		return nil, errorAt(in.line, "RUN in exec form is not supported in the final stage")
	}
	var pkgs []string
	for cmd := range strings.SplitSeq(in.args, "&&") {
		f := strings.Fields(cmd)
		if ignoredCommands[strings.Join(f, " ")] {
			continue
		}
		if len(f) < 2 || f[0] != "apt-get" {
			return nil, errorAt(in.line, "RUN command %q: only apt-get and removing apt's lists are supported in the final stage", strings.Join(f, " "))
		}
		p, err := parseInstall(f[1:])
		if err != nil {
			return nil, errorAt(in.line, "%w", err)
		}
		pkgs = append(pkgs, p...)
	}
	return pkgs, nil
}

// installOptions are the apt-get options an install may carry: they say
// how quietly and without asking apt works, not what it installs.
var installOptions = map[string]bool{
	"-y": true, "--yes": true, "--assume-yes": true,
	"-q": true, "-qq": true, "--quiet": true,
	"--no-install-recommends": true,
}

// packagePattern is Debian policy's rule for a package name; it also keeps
// a version pin (name=version) or a shell operator out of the list.
var packagePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// parseInstall reads the packages from the arguments of one apt-get
// install (everything after "apt-get"). It requires
// --no-install-recommends because debootstrap installs dependencies but
// never recommendations, so only then are the two the same set.
func parseInstall(args []string) ([]string, error) {
	var pkgs []string
	subcommand, noRecommends := "", false
	for _, a := range args {
		switch {
		case a == "--no-install-recommends":
			noRecommends = true
		case installOptions[a]:
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("apt-get option %s is not supported", a)
		case subcommand == "":
			subcommand = a
			if a != "install" {
				return nil, fmt.Errorf("apt-get %s: only install, and a plain apt-get update or clean, are supported", a)
			}
		case packagePattern.MatchString(a):
			pkgs = append(pkgs, a)
		default:
			return nil, fmt.Errorf("apt-get install argument %q is not a package name", a)
		}
	}
	if subcommand == "" {
		return nil, fmt.Errorf("apt-get without a command")
	}
	if !noRecommends {
		return nil, fmt.Errorf("apt-get install without --no-install-recommends: debootstrap cannot install recommended packages")
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("apt-get install names no packages")
	}
	return pkgs, nil
}

// parseEntrypoint reads an ENTRYPOINT, which must be in exec form: the
// shell form runs the command under /bin/sh -c, which would make the
// shell, not the program, the container's first process.
func parseEntrypoint(in instruction) ([]string, error) {
	if !strings.HasPrefix(in.args, "[") {
		return nil, errorAt(in.line, "ENTRYPOINT %s: only the exec form, a JSON array of strings, is supported", in.args)
	}
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		return nil, errorAt(in.line, "ENTRYPOINT %s: decoding the JSON array: %w", in.args, err)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errorAt(in.line, "ENTRYPOINT %s: names no program", in.args)
	}
	return argv, nil
}

// errorAt is an error about the instruction starting at line.
func errorAt(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %w", line, fmt.Errorf(format, args...))
}
