package sysctl

import (
	"os"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netnstest"
)

const routeLocalnet = "net/ipv4/conf/all/route_localnet"

// TestEnsureInNamespace sets a per-namespace sysctl in a namespace of the
// test's own: the namespace sees the new value, the host keeps its own.
func TestEnsureInNamespace(t *testing.T) {
	ns := netnstest.New(t)
	host, err := os.ReadFile("/proc/sys/" + routeLocalnet)
	if err != nil {
		t.Fatal(err)
	}
	s := New("/run/netns/" + ns.Name)
	if v, found, err := s.Get(routeLocalnet); err != nil || !found || v != 0 {
		t.Fatalf("Get in a new namespace = %d, %v, %v; want 0", v, found, err)
	}
	for i, want := range []bool{true, false} {
		if changed, err := s.Ensure(routeLocalnet, 1); err != nil || changed != want {
			t.Fatalf("Ensure #%d = %v, %v; want changed %v", i+1, changed, err, want)
		}
	}
	if v, _, err := s.Get(routeLocalnet); err != nil || v != 1 {
		t.Errorf("Get after Ensure = %d, %v; want 1", v, err)
	}
	after, err := os.ReadFile("/proc/sys/" + routeLocalnet)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(host) {
		t.Errorf("the host's %s went from %q to %q", routeLocalnet, strings.TrimSpace(string(host)), strings.TrimSpace(string(after)))
	}
}

func TestGetMissing(t *testing.T) {
	if _, found, err := New("").Get("net/no/such/sysctl"); err != nil || found {
		t.Errorf("Get of a missing sysctl = found %v, %v; want not found", found, err)
	}
}

func TestErrorsNameTheSysctl(t *testing.T) {
	_, err := New("/nonexistent/netns").Ensure(routeLocalnet, 1)
	if err == nil || !strings.Contains(err.Error(), routeLocalnet) || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Errorf("Ensure in a missing namespace = %v; want an error naming the sysctl and the namespace", err)
	}
}
