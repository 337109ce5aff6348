package conntrack

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/sysctl"
)

// TestSetterInNamespace applies conntrack settings to a network namespace
// of the test's own. The per-namespace ones take; nf_conntrack_max,
// which only the host's namespace may set, is refused by the kernel
// when the settings ask for a change (kube-proxy's defaults would), and
// the host keeps every value of its own.
func TestSetterInNamespace(t *testing.T) {
	ns := netnstest.New(t)
	host := hostValues(t)
	sys := sysctl.New("/run/netns/" + ns.Name)
	st := Setter{Sysctls: sys}
	s := Settings{TCPEstablishedTimeout: 2 * time.Hour, TCPCloseWaitTimeout: 30 * time.Minute,
		UDPTimeout: 45 * time.Second, UDPStreamTimeout: 3 * time.Minute, TCPBeLiberal: true}
	if _, err := st.Apply(s); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{sysctlTCPEstablished: 7200, sysctlTCPCloseWait: 1800,
		sysctlUDP: 45, sysctlUDPStream: 180, sysctlTCPBeLiberal: 1} {
		if got, _, err := sys.Get(name); err != nil || got != want {
			t.Errorf("%s in the namespace = %d, %v; want %d", name, got, err, want)
		}
	}
	if liberal, err := TCPBeLiberal(sys); err != nil || !liberal {
		t.Errorf("TCPBeLiberal after the settings = %v, %v", liberal, err)
	}
	curMax, _, _ := sys.Get(sysctlMax)
	if _, err := st.Apply(Settings{MaxPerCore: curMax + 1, Min: curMax + 1}); err == nil || !strings.Contains(err.Error(), sysctlMax) {
		t.Errorf("raising nf_conntrack_max in a namespace: %v, want the kernel's refusal naming it", err)
	}
	if after := hostValues(t); after != host {
		t.Errorf("the host's conntrack settings changed:\nbefore %s\nafter  %s", host, after)
	}
}

// hostValues reads the host's conntrack sysctls the settings touch.
func hostValues(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{sysctlMax, sysctlTCPEstablished, sysctlTCPCloseWait, sysctlUDP, sysctlUDPStream, sysctlTCPBeLiberal} {
		v, err := os.ReadFile("/proc/sys/" + name)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(name + "=" + strings.TrimSpace(string(v)) + " ")
	}
	return b.String()
}
