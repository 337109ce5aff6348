// Package netns makes throwaway network namespaces, so that rules can be
// loaded into a real kernel without touching the host's own: for tests
// (through netnstest) and for the benchmark.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// NS is a named network namespace created by a test.
type NS struct {
	Name string
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
