package iptrace

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
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

// dispatchChains are the chains whose rules send a Service port's
// destinations on, or refuse them.
var dispatchChains = []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS"}

// Destinations returns every destination a rule of the dispatch chains
// matches with -p, --dport and, but for a node port, -d, named by the
// Service port its comment names, sorted and without duplicates.
func (rs *Ruleset) Destinations() []tracer.Destination {
	var out []tracer.Destination
	for _, t := range rs.tables {
		for _, name := range dispatchChains {
			c := t.chains[name]
			if c == nil {
				continue
			}
			for _, r := range c.rules {
				if d, ok := r.destination(); ok {
					out = append(out, d)
				}
			}
		}
	}
	return tracer.SortDestinations(out)
}

// destination reads the destination a dispatch rule matches.
func (r *rule) destination() (tracer.Destination, bool) {
	d := tracer.Destination{Port: tracer.PortOfComment(r.comment)}
	f := strings.Fields(r.text)
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "-p":
			d.Protocol = model.Protocol(f[i+1])
		case "--dport":
			n, _ := strconv.ParseUint(f[i+1], 10, 16)
			d.Number = uint16(n)
		case "-d":
			if i > 0 && f[i-1] == "!" {
				return d, false
			}
			a, err := netip.ParseAddr(f[i+1])
			if err != nil {
				return d, false
			}
			d.Addr = a
		}
	}
	return d, d.Port != "" && d.Protocol != "" && d.Number != 0
}

// PodCIDRs returns the source ranges the Service chains masquerade
// traffic from outside of (! -s CIDR -j KUBE-MARK-MASQ): the pod network.
func (rs *Ruleset) PodCIDRs() []netip.Prefix {
	var out []netip.Prefix
	t := rs.tables["nat"]
	if t == nil {
		return nil
	}
	for _, c := range t.chains {
		for _, r := range c.rules {
			f := strings.Fields(r.text)
			for i := 0; i+2 < len(f); i++ {
				if f[i] == "!" && f[i+1] == "-s" && strings.HasSuffix(r.text, "-j KUBE-MARK-MASQ") {
					if p, err := netip.ParsePrefix(f[i+2]); err == nil && !slices.Contains(out, p) {
						out = append(out, p)
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return out
}
