package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCountPackets scrapes the packet counters: a counter's value as
// read, and none for a counter that cannot be read.
func TestCountPackets(t *testing.T) {
	m := New()
	m.CountPackets(func() (uint64, error) { return 7, nil }, func() (uint64, error) { return 0, errors.New("gone") })
	rec := httptest.NewRecorder()
	NewServer("", m).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if !strings.Contains(body, "# TYPE kubeproxy_iptables_ct_state_invalid_dropped_packets_total counter\nkubeproxy_iptables_ct_state_invalid_dropped_packets_total 7\n") {
		t.Errorf("no INVALID drop count in:\n%s", body)
	}
	if strings.Contains(body, "kubeproxy_iptables_localhost_nodeports_accepted_packets_total ") {
		t.Errorf("a counter that cannot be read has a value:\n%s", body)
	}
}
