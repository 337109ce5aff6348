package iptrace

import "testing"

func TestRendererSpelling(t *testing.T) {
	for _, tt := range []struct{ saved, want string }{
		{"-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"},
		{"-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0", "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000"},
		{"-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -j REJECT --reject-with icmp-port-unreachable", "-A KUBE-SERVICES -d 10.96.0.10 -p tcp -j REJECT"},
		{"-A KUBE-SERVICES -d fd00::10/128 -j X", "-A KUBE-SERVICES -d fd00::10 -j X"},
		{"-A KUBE-SERVICES -s 10.0.0.0/8 -j X", "-A KUBE-SERVICES -s 10.0.0.0/8 -j X"},
		{"-A KUBE-SEP-X -m recent --set --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j Y", "-A KUBE-SEP-X -m recent --name KUBE-SEP-X --set -j Y"},
		{"-A KUBE-SVC-X -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource -j Y",
			"-A KUBE-SVC-X -m recent --name KUBE-SEP-X --rcheck --seconds 10800 --reap -j Y"},
	} {
		if got, err := rendererSpelling(tt.saved); err != nil || got != tt.want {
			t.Errorf("rendererSpelling(%q) = %q, %v; want %q", tt.saved, got, err, tt.want)
		}
	}
	if _, err := rendererSpelling("-A X -j MARK --set-xmark 0x1/0xff"); err == nil {
		t.Error("a MARK that is neither or nor xor was rewritten")
	}
}

// TestParseSavedLeavesOtherToolsOut reads a dump with another tool's
// rules in a built-in chain and another table: they are counted, not
// followed, and svcproxy's jumps are.
func TestParseSavedLeavesOtherToolsOut(t *testing.T) {
	saved := `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.1.0.5:8080
COMMIT
`
	rs, ignored, err := ParseSaved([]byte(saved))
	if err != nil || ignored != 1 {
		t.Fatalf("ParseSaved = %v, ignored %d; want no error, 1 ignored", err, ignored)
	}
	if got := rs.tables["nat"].chains["PREROUTING"].rules; len(got) != 1 || got[0].target.chain != "KUBE-SERVICES" {
		t.Errorf("PREROUTING rules %+v, want svcproxy's jump alone", got)
	}
}
