// Package netnstest gives tests throwaway network namespaces that are
// deleted when the test ends, and skips tests that cannot have them.
package netnstest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// RequireRoot skips t unless it runs as root with the named commands on
// PATH, saying why, so an unprivileged `go test ./...` still passes.
func RequireRoot(t testing.TB, commands ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces (run the tests as root, as CI does)")
	}
	for _, c := range append([]string{"ip"}, commands...) {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("skipping: %s is not installed (apt-get install iptables nftables iproute2)", c)
		}
	}
}

// New creates a network namespace that is deleted when the test ends,
// whether it passes or not.
func New(t testing.TB) *netns.NS {
	t.Helper()
	ns, err := netns.Create("svcproxy-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			t.Error(err)
		}
	})
	return ns
}
