package health

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	proxysync "github.com/svcproxy/svcproxy/pkg/sync"
)

// fakeState is a sync loop's progress, set by the test.
type fakeState struct{ last, pending time.Time }

func (f fakeState) LastSync() time.Time            { return f.last }
func (f fakeState) OldestPendingChange() time.Time { return f.pending }

var _ State = fakeState{}

// t0 is the fake clock's time in every test.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestServerVerdicts(t *testing.T) {
	deleting := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", DeletionTimestamp: &metav1.Time{Time: t0}}}
	plain := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	tests := []struct {
		name  string
		state fakeState
		node  *corev1.Node
		path  string
		want  int
	}{
		{name: "nothing pending", state: fakeState{last: t0.Add(-time.Hour)}, node: plain, path: "/healthz", want: 200},
		{name: "pending within timeout", state: fakeState{last: t0.Add(-time.Hour), pending: t0.Add(-59 * time.Second)}, node: plain, path: "/healthz", want: 200},
		{name: "pending past timeout", state: fakeState{last: t0.Add(-time.Hour), pending: t0.Add(-61 * time.Second)}, node: plain, path: "/healthz", want: 503},
		{name: "pending past timeout on livez", state: fakeState{pending: t0.Add(-61 * time.Second)}, path: "/livez", want: 503},
		{name: "old change synced since", state: fakeState{last: t0.Add(-time.Second), pending: t0.Add(-time.Hour)}, node: plain, path: "/healthz", want: 200},
		{name: "node being deleted fails healthz", state: fakeState{last: t0}, node: deleting, path: "/healthz", want: 503},
		{name: "node being deleted passes livez", state: fakeState{last: t0}, node: deleting, path: "/livez", want: 200},
		{name: "node never seen fails healthz", state: fakeState{last: t0}, path: "/healthz", want: 503},
		{name: "node never seen passes livez", state: fakeState{last: t0}, path: "/livez", want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Config{Clock: clocktesting.NewFakePassiveClock(t0)}, tt.state)
			if tt.node != nil {
				s.SyncNode(tt.node)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.want {
				t.Errorf("GET %s = %d, want %d; body %s", tt.path, rec.Code, tt.want, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
		})
	}
}

// TestServerBody checks kube-proxy's body: healthy is the sync loop's
// verdict, nodeEligible is on /healthz only, and lastUpdated is now while
// the answer is 200, the last sync otherwise.
func TestServerBody(t *testing.T) {
	tainted := &corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: ToBeDeletedTaint, Effect: corev1.TaintEffectNoSchedule}}}}
	last := t0.Add(-5 * time.Second)
	tests := []struct {
		name         string
		path         string
		state        fakeState
		wantEligible any
		wantHealthy  bool
		wantLast     time.Time
	}{
		{name: "healthz reports eligibility", path: "/healthz", state: fakeState{last: last},
			wantEligible: false, wantHealthy: true, wantLast: last},
		{name: "livez leaves it out", path: "/livez", state: fakeState{last: last},
			wantEligible: nil, wantHealthy: true, wantLast: t0},
		{name: "a late change", path: "/livez", state: fakeState{last: t0.Add(-2 * time.Hour), pending: t0.Add(-time.Hour)},
			wantEligible: nil, wantHealthy: false, wantLast: t0.Add(-2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Config{Clock: clocktesting.NewFakePassiveClock(t0)}, tt.state)
			s.SyncNode(tainted)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("decoding %s: %v", rec.Body, err)
			}
			if body["lastUpdated"] != tt.wantLast.Format(time.RFC3339Nano) || body["currentTime"] != t0.Format(time.RFC3339Nano) {
				t.Errorf("times = %v, %v; want %v, %v", body["lastUpdated"], body["currentTime"], tt.wantLast, t0)
			}
			if body["nodeEligible"] != tt.wantEligible || body["healthy"] != tt.wantHealthy {
				t.Errorf("nodeEligible = %v, healthy = %v; want %v, %v", body["nodeEligible"], body["healthy"], tt.wantEligible, tt.wantHealthy)
			}
		})
	}
}

func TestServerTimeout(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{name: "default", cfg: Config{}, want: 2 * proxysync.DefaultSyncPeriod},
		{name: "twice the sync period", cfg: Config{SyncPeriod: 10 * time.Second}, want: 20 * time.Second},
		{name: "explicit", cfg: Config{SyncPeriod: 10 * time.Second, Timeout: 7 * time.Second}, want: 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewServer(tt.cfg, fakeState{}).timeout; got != tt.want {
				t.Errorf("timeout = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServerServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := NewServer(Config{}, fakeState{})
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, l) }()
	resp, err := http.Get("http://" + l.Addr().String() + "/livez")
	if err != nil {
		t.Fatalf("GET /livez: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /livez = %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve returned %v after cancel, want nil", err)
	}
}

func TestServerRunDisabled(t *testing.T) {
	if err := NewServer(Config{}, fakeState{}).Run(context.Background()); err != nil {
		t.Errorf("Run with no bind address = %v, want nil", err)
	}
}
