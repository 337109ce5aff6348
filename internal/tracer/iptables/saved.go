package iptrace

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ParseSaved reads what iptables-save prints of the filter and nat
// tables (others are passed over), as `svcproxy trace --live` finds them in the kernel, and
// returns the ruleset svcproxy's chains make of it. iptables-save spells
// some options otherwise than the renderer writes them; they are
// rewritten to the renderer's spelling first, and what cannot be is an
// error. Rules of the built-in chains that jump to no chain of
// svcproxy's (KUBE-*) belong to other tools and are left out; ignored
// counts them.
func ParseSaved(out []byte) (rs *Ruleset, ignored int, err error) {
	var b strings.Builder
	table := ""
	for i, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "*") {
			table = line[1:]
		}
		if builtinChains[table] == nil {
			continue // mangle, raw: svcproxy has no rules there
		}
		conv, skip, err := savedLine(table, line)
		if err != nil {
			return nil, 0, fmt.Errorf("iptables-save line %d: %w", i+1, err)
		}
		if skip {
			ignored++
			continue
		}
		b.WriteString(conv)
		b.WriteByte('\n')
	}
	rs, err = Parse([]byte(b.String()))
	return rs, ignored, err
}

// savedLine rewrites one line of iptables-save output; skip says it is
// another tool's rule.
func savedLine(table, line string) (conv string, skip bool, err error) {
	switch {
	case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "*") || line == "COMMIT":
		return line, false, nil
	case strings.HasPrefix(line, ":"):
		name, _, _ := strings.Cut(line[1:], " ")
		if isBuiltin(table, name) {
			return "", false, nil
		}
		return ":" + name + " - [0:0]", false, nil
	case !strings.HasPrefix(line, "-A "):
		return "", false, fmt.Errorf("unexpected %q", line)
	}
	chain, _, _ := strings.Cut(line[3:], " ")
	rule, err := rendererSpelling(line)
	if err != nil {
		return "", false, err
	}
	if !isBuiltin(table, chain) {
		return rule, false, nil
	}
	if t := jumpTarget(rule); !strings.HasPrefix(t, "KUBE-") {
		return "", true, nil
	}
	return "# jump: " + rule, false, nil
}

func isBuiltin(table, chain string) bool {
	for _, c := range builtinChains[table] {
		if c == chain {
			return true
		}
	}
	return false
}

var (
	setXMark   = regexp.MustCompile(`--set-xmark (0x[0-9a-f]+)/(0x[0-9a-f]+)`)
	rejectWith = regexp.MustCompile(` --reject-with \S+`)
	hostRoute  = regexp.MustCompile(`(-[sd] [0-9.]+)/32\b|(-[sd] [0-9a-f:]+)/128\b`)
	recentOpts = regexp.MustCompile(`-m recent (--set|--rcheck --seconds \d+ --reap) --name (\S+) --mask \S+ --rsource`)
	saveTarget = regexp.MustCompile(` -[jg] (\S+)`)
)

// rendererSpelling turns iptables-save's spelling of a rule into the
// renderer's: MARK's --set-xmark back to --or-mark or --xor-mark, REJECT
// without its default --reject-with, host addresses without /32, and
// recent's options in the renderer's order.
func rendererSpelling(rule string) (string, error) {
	var err error
	rule = setXMark.ReplaceAllStringFunc(rule, func(m string) string {
		v := setXMark.FindStringSubmatch(m)
		value, _ := strconv.ParseUint(v[1], 0, 32)
		mask, _ := strconv.ParseUint(v[2], 0, 32)
		switch {
		case mask == value:
			return "--or-mark " + v[1]
		case mask == 0:
			return "--xor-mark " + v[1]
		}
		err = fmt.Errorf("MARK %s is neither an or nor an xor", m)
		return m
	})
	rule = rejectWith.ReplaceAllString(rule, "")
	rule = hostRoute.ReplaceAllString(rule, "$1$2")
	rule = recentOpts.ReplaceAllString(rule, "-m recent --name $2 $1")
	return rule, err
}

// jumpTarget returns the chain or target a rule names with -j or -g.
func jumpTarget(rule string) string {
	if m := saveTarget.FindStringSubmatch(rule); m != nil {
		return m[1]
	}
	return ""
}
