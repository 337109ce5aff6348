// Package sync brings the kernel to the state a model describes: it finds
// which rule backend the host uses, applies rendered rulesets atomically
// through it, and removes them again.
package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs a command with stdin and returns its standard output. It is
// the seam between this package and the host, so unit tests can stand in
// for iptables and nft.
type Runner interface {
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
	// LookPath reports whether a command exists, as exec.LookPath.
	LookPath(name string) (string, error)
}

// ExecRunner runs commands on the host. It lets their malloc use huge
// pages (see hugePagesTunable), which makes restoring a large table up to
// twice as fast.
type ExecRunner struct {
	// Env is added to the environment of every command (e.g.
	// XTABLES_LOCKFILE).
	Env []string
	// Prefix is put before every command, e.g. "ip netns exec NAME" to
	// work in another network namespace, as tests do.
	Prefix []string
}

var _ Runner = ExecRunner{}

// CommandError is a command that ran and failed.
type CommandError struct {
	Command  string
	ExitCode int
	// Stderr is what the command printed on standard error, trimmed.
	Stderr string
	Err    error
}

// Error returns "<command>: <stderr or error>".
func (e *CommandError) Error() string {
	if e.Stderr != "" {
		return fmt.Sprintf("%s: %s", e.Command, e.Stderr)
	}
	return fmt.Sprintf("%s: %v", e.Command, e.Err)
}

// Unwrap returns the underlying exec error.
func (e *CommandError) Unwrap() error { return e.Err }

// Run runs name with args, feeding stdin.
func (r ExecRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string(nil), r.Prefix...), name), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Env = withHugePages(append(cmd.Environ(), r.Env...))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		ce := &CommandError{Command: name + " " + strings.Join(args, " "), Stderr: strings.TrimSpace(stderr.String()), Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ce.ExitCode = ee.ExitCode()
		}
		return stdout.Bytes(), ce
	}
	return stdout.Bytes(), nil
}

// LookPath finds name on PATH.
func (ExecRunner) LookPath(name string) (string, error) {
	return exec.LookPath(name)
}

// hugePagesTunable asks glibc (2.35 and later) to let malloc's memory be
// backed by transparent huge pages, on hosts whose THP mode is "madvise"
// (the default of many distributions) as well as "always". An
// iptables-legacy restore copies the whole table out of the kernel, into
// libiptc's cache and back: at 10,000 Services that is some 40 MB each
// way, through memory the process has only just mapped. In 4 KiB pages,
// faulting it in was about half of a one-chain restore's time; in 2 MiB
// pages it is a few hundred faults. nft gains about a quarter; for
// iptables-nft, whose time goes to string comparisons, no difference was
// measured. Other C libraries and older glibc ignore the variable.
const hugePagesTunable = "glibc.malloc.hugetlb=1"

// withHugePages returns env with hugePagesTunable added to GLIBC_TUNABLES,
// unless that already sets glibc.malloc.hugetlb: an operator who sets it
// (to 0, say) decides. The last GLIBC_TUNABLES in env is the one a
// command sees, as os/exec keeps the last of duplicate variables.
func withHugePages(env []string) []string {
	const key = "GLIBC_TUNABLES="
	current := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key); ok {
			current = v
		}
	}
	for _, t := range strings.Split(current, ":") {
		if strings.HasPrefix(t, "glibc.malloc.hugetlb=") {
			return env
		}
	}
	if current != "" {
		return append(env, key+current+":"+hugePagesTunable)
	}
	return append(env, key+hugePagesTunable)
}
