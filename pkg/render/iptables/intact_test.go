package iptables

import (
	"strings"
	"testing"
)

// savedAfter is what iptables-save prints once rs is loaded into empty
// tables: the jumps become the built-in chains' rules.
func savedAfter(rs *Ruleset) string {
	var b strings.Builder
	for line := range strings.Lines(string(rs.Payload())) {
		if rest, ok := strings.CutPrefix(line, "# jump: "); ok {
			line = rest
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestStateIntact(t *testing.T) {
	m := newModel([]string{podCIDR}, servicePort(withNodePort))
	m.Config.LocalhostNodePorts = true
	rs := Render(m)
	loaded := savedAfter(rs)
	servicesRule := "-A KUBE-SERVICES " + rs.Tables[1].Chains[0].Rules[0] + "\n"
	for _, tc := range []struct {
		name   string
		change func(string) string
		want   bool
	}{
		{name: "as loaded", change: func(s string) string { return s }, want: true},
		{name: "another tool's rules after the jumps", want: true, change: func(s string) string {
			return strings.Replace(s, "COMMIT\n", "-A INPUT -j DOCKER-USER\n-A PREROUTING -j DOCKER\nCOMMIT\n", -1)
		}},
		{name: "a nat hook jump deleted", change: func(s string) string {
			return strings.Replace(s, `-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`+"\n", "", 1)
		}},
		{name: "the localnet guard's jump deleted", change: func(s string) string {
			return strings.Replace(s, "-A OUTPUT -j KUBE-FIREWALL\n", "", 1)
		}},
		{name: "nat KUBE-SERVICES flushed", change: func(s string) string { return strings.Replace(s, servicesRule, "", 1) }},
		{name: "a rule added to KUBE-SERVICES", change: func(s string) string {
			return strings.Replace(s, servicesRule, servicesRule+"-A KUBE-SERVICES -j ACCEPT\n", 1)
		}},
		{name: "a chain deleted, with the jump to it", change: func(s string) string {
			var b strings.Builder
			for line := range strings.Lines(s) {
				if !strings.Contains(line, "KUBE-FORWARD") {
					b.WriteString(line)
				}
			}
			return b.String()
		}},
		{name: "a table missing", change: func(s string) string { return s[strings.Index(s, "*nat"):] }},
		{name: "a jump put before svcproxy's", change: func(s string) string {
			return strings.Replace(s, "*nat\n", "*nat\n-A PREROUTING -j FIRST\n", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := tc.change(loaded)
			if saved == loaded && !tc.want {
				t.Fatal("the change changed nothing")
			}
			if got := rs.State().Intact(ParseSave([]byte(saved))); got != tc.want {
				t.Errorf("Intact = %v, want %v, for:\n%s", got, tc.want, saved)
			}
		})
	}
}
