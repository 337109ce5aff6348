// Package netns gives tests throwaway network namespaces, so that rules
// can be loaded into a real kernel without touching the host's own.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NS is a named network namespace created by a test.
type NS struct {
	Name string
}

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
func New(t testing.TB) *NS {
	t.Helper()
	ns, err := Create("svcproxy-test-")
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

// Create creates a network namespace named prefix and a random suffix. The caller must Delete it.
func Create(prefix string) (*NS, error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ns := &NS{Name: prefix + hex.EncodeToString(suffix)}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("creating network namespace %s: %w: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return ns, nil
}

// Delete deletes the namespace, and with it every rule and interface in
// it.
func (ns *NS) Delete() error {
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("deleting network namespace %s: %w: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Prefix returns the command line prefix that runs a command inside the
// namespace: "ip netns exec NAME".
func (ns *NS) Prefix() []string {
	return []string{"ip", "netns", "exec", ns.Name}
}

// Run runs a command inside the namespace with stdin, returning its
// combined output.
func (ns *NS) Run(stdin io.Reader, name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
