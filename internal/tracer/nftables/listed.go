package nfttrace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// LoadListed reads a table as `nft list table FAMILY NAME` prints it,
// what `svcproxy trace --live` finds in the kernel, and returns it as
// Load would the commands that built it. Declarations come first, then
// elements, then rules, since nft lists chains by name, not in the order
// jumps need them.
func LoadListed(out string) (*Table, error) {
	l := &listing{}
	for i, line := range strings.Split(out, "\n") {
		if err := l.line(strings.TrimSpace(line)); err != nil {
			return nil, fmt.Errorf("nft list line %d: %w", i+1, err)
		}
	}
	if l.prefix == "" {
		return nil, fmt.Errorf("nft list: no table")
	}
	return Load(l.decls.String() + l.elems.String() + l.rules.String())
}

// listing turns nft's listing back into commands.
type listing struct {
	family              knftables.Family
	prefix              string // "add KIND FAMILY TABLE "
	decls, elems, rules strings.Builder
	// kind and name are the set, map or chain being read; clauses its
	// declaration; elements the text of its elements while open.
	kind, name string
	clauses    []string
	elements   *strings.Builder
}

func (l *listing) line(line string) error {
	switch {
	case line == "":
	case l.elements != nil:
		l.elements.WriteString(" " + line)
		if strings.HasSuffix(line, "}") {
			l.elems.WriteString("add element " + l.prefix + l.name + " " + strings.TrimSpace(l.elements.String()) + "\n")
			l.elements = nil
		}
	case strings.HasPrefix(line, "table "):
		f := strings.Fields(line)
		if len(f) != 4 || f[3] != "{" {
			return fmt.Errorf("unexpected %q", line)
		}
		l.family, l.prefix = knftables.Family(f[1]), f[1]+" "+f[2]+" "
		l.decls.WriteString("add table " + f[1] + " " + f[2] + "\n")
	case l.kind == "" && strings.HasPrefix(line, "comment "):
	case l.kind == "":
		return l.open(line)
	case line == "}":
		return l.close()
	case l.kind == "chain":
		return l.chainLine(line)
	default:
		return l.setLine(line)
	}
	return nil
}

// open starts a set, map or chain: "KIND NAME {".
func (l *listing) open(line string) error {
	f := strings.Fields(line)
	if line == "}" {
		return nil // the table's end
	}
	if len(f) != 3 || f[2] != "{" || (f[0] != "set" && f[0] != "map" && f[0] != "chain") {
		return fmt.Errorf("unexpected %q", line)
	}
	l.kind, l.name, l.clauses = f[0], f[1], nil
	return nil
}

func (l *listing) close() error {
	decl := ""
	if len(l.clauses) > 0 {
		decl = " { " + strings.Join(l.clauses, " ; ") + " ; }"
	}
	l.decls.WriteString("add " + l.kind + " " + l.prefix + l.name + decl + "\n")
	l.kind = ""
	return nil
}

// setLine reads a line of a set or map: a clause, or its elements.
func (l *listing) setLine(line string) error {
	if rest, ok := strings.CutPrefix(line, "elements = "); ok {
		l.elements = &strings.Builder{}
		return l.line(rest)
	}
	l.clauses = append(l.clauses, line)
	return nil
}

// chainLine reads a line of a chain: its base chain declaration, or a
// rule.
func (l *listing) chainLine(line string) error {
	if !strings.HasPrefix(line, "type ") {
		l.rules.WriteString("add rule " + l.prefix + l.name + " " + line + "\n")
		return nil
	}
	for _, c := range strings.Split(line, ";") {
		c = strings.TrimSpace(c)
		if c == "" || c == "policy accept" {
			continue
		}
		f := strings.Fields(c)
		if len(f) < 6 || f[4] != "priority" {
			return fmt.Errorf("unexpected %q", c)
		}
		p, err := priority(l.family, f[5:])
		if err != nil {
			return err
		}
		l.clauses = append(l.clauses, strings.Join(f[:5], " ")+" "+strconv.Itoa(p))
	}
	return nil
}

// priority reads "N", "NAME" or "NAME +|- N", as nft lists priorities.
func priority(fam knftables.Family, f []string) (int, error) {
	p, err := knftables.ParsePriority(fam, f[0])
	if err != nil || len(f) == 1 {
		return p, err
	}
	n, err := strconv.Atoi(strings.Join(f[2:], ""))
	if len(f) != 3 || err != nil || (f[1] != "+" && f[1] != "-") {
		return 0, fmt.Errorf("unexpected priority %q", strings.Join(f, " "))
	}
	if f[1] == "-" {
		n = -n
	}
	return p + n, nil
}

// dispatchMaps are the verdict maps whose elements send a Service port's
// destinations on, or refuse them; their elements' comments name it.
var dispatchMaps = []string{"service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports", "firewall-ips"}

// Destinations returns every destination of the dispatch maps whose
// element names its Service port, sorted and without duplicates.
func (t *Table) Destinations() []tracer.Destination {
	var out []tracer.Destination
	for _, name := range dispatchMaps {
		m := t.Maps[name]
		if m == nil {
			continue
		}
		for _, el := range m.Elements {
			if d, ok := elementDestination(el); ok {
				out = append(out, d)
			}
		}
	}
	return tracer.SortDestinations(out)
}

// elementDestination reads "ADDR . PROTO . PORT" or "PROTO . PORT".
func elementDestination(el Element) (tracer.Destination, bool) {
	d := tracer.Destination{Port: tracer.PortOfComment(el.Comment)}
	k := el.Key
	if len(k) == 3 {
		a, err := netip.ParseAddr(k[0])
		if err != nil {
			return d, false
		}
		d.Addr, k = a, k[1:]
	}
	if len(k) != 2 {
		return d, false
	}
	n, err := strconv.ParseUint(k[1], 10, 16)
	d.Protocol, d.Number = model.Protocol(k[0]), uint16(n)
	return d, err == nil && d.Port != ""
}

// PodCIDRs returns the elements of the cluster-cidrs set: the pod
// network, which traffic from outside of is masqueraded.
func (t *Table) PodCIDRs() []netip.Prefix {
	return t.prefixes("cluster-cidrs")
}

// NodePortAddresses returns the elements of the nodeport-ips set: the
// node addresses that take NodePort traffic.
func (t *Table) NodePortAddresses() []netip.Addr {
	var out []netip.Addr
	for _, p := range t.prefixes("nodeport-ips") {
		out = append(out, p.Addr())
	}
	return out
}

func (t *Table) prefixes(set string) []netip.Prefix {
	var out []netip.Prefix
	if s := t.Sets[set]; s != nil {
		for _, el := range s.Elements {
			if len(el.Key) != 1 {
				continue
			}
			if p, err := netip.ParsePrefix(el.Key[0]); err == nil {
				out = append(out, p)
			} else if a, err := netip.ParseAddr(el.Key[0]); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	return out
}
