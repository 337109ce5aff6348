package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/svcproxy/svcproxy/internal/httpserve"
	proxysync "github.com/svcproxy/svcproxy/pkg/sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// State is what the proxy's sync loop knows about its own progress. The
// sync loop implements it; the Server only reads it.
type State interface {
	// LastSync is when rules were last applied successfully; zero if
	// never.
	LastSync() time.Time
	// OldestPendingChange is when the oldest change not yet applied was
	// queued; zero if every change has been applied.
	OldestPendingChange() time.Time
}

// Config configures a Server.
type Config struct {
	// BindAddress is the host:port to serve on, such as "0.0.0.0:10256";
	// empty disables the server.
	BindAddress string
	// SyncPeriod is the proxy's sync period; the timeout defaults to
	// twice it, as in kube-proxy. Zero means sync.DefaultSyncPeriod, the
	// period a sync loop given zero runs at.
	SyncPeriod time.Duration
	// Timeout is how long a change may wait to be applied before the
	// proxy is unhealthy; zero means 2 × SyncPeriod.
	Timeout time.Duration
	// Clock tells the time; nil means the real clock.
	Clock clock.PassiveClock
	// Observe, if set, is told of every answer: the path (/healthz or
	// /livez) and the status code, for metrics.
	Observe func(path string, code int)
}

// Server serves /healthz and /livez. It is healthy unless a pending
// change has waited longer than the timeout without a successful sync
// since; /healthz also fails when the node is not eligible for load
// balancer traffic (see NodeEligible), /livez ignores the node.
type Server struct {
	addr    string
	state   State
	timeout time.Duration
	clock   clock.PassiveClock
	observe func(path string, code int)

	mu           sync.Mutex
	nodeEligible bool
}

// NewServer returns a Server reporting state. It starts nothing; call
// Run or Serve. Until SyncNode gives it a Node, the node is not eligible.
func NewServer(cfg Config, state State) *Server {
	s := &Server{addr: cfg.BindAddress, state: state, timeout: cfg.Timeout, clock: cfg.Clock, observe: cfg.Observe}
	if s.timeout <= 0 {
		period := cfg.SyncPeriod
		if period <= 0 {
			period = proxysync.DefaultSyncPeriod
		}
		s.timeout = 2 * period
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	return s
}

// SyncNode records the node's eligibility for load balancer traffic, as
// NodeEligible judges it. It is cheap and does not block, so it can be
// called on every event about the Node.
func (s *Server) SyncNode(node *corev1.Node) {
	eligible := NodeEligible(node)
	s.mu.Lock()
	s.nodeEligible = eligible
	s.mu.Unlock()
}

// Healthy reports whether the proxy keeps up with changes: the /livez
// verdict, which ignores the node.
func (s *Server) Healthy() bool {
	healthy, _, _ := s.check()
	return healthy
}

// check returns the verdict with the times it was based on.
func (s *Server) check() (healthy bool, lastSync, now time.Time) {
	now = s.clock.Now()
	lastSync = s.state.LastSync()
	pending := s.state.OldestPendingChange()
	switch {
	case pending.IsZero():
		healthy = true
	case !lastSync.Before(pending):
		// Synced since the change was queued.
		healthy = true
	default:
		healthy = now.Sub(pending) <= s.timeout
	}
	return healthy, lastSync, now
}

// response is the JSON body of /healthz and /livez, with kube-proxy's
// field names. LastUpdated is the current time while the proxy is
// healthy, as kube-proxy reports it (its older releases reported the last
// sync, and "recent while healthy" is what checks built on it expect);
// the last successful sync is in the metrics.
type response struct {
	LastUpdated  time.Time `json:"lastUpdated"`
	CurrentTime  time.Time `json:"currentTime"`
	NodeEligible *bool     `json:"nodeEligible,omitempty"`
	Healthy      bool      `json:"healthy"`
}

// Handler returns the handler of /healthz and /livez.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { s.answer(w, true) })
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { s.answer(w, false) })
	return mux
}

// answer writes the verdict, counting the node's eligibility if withNode.
// As kube-proxy's, the body's healthy is the sync loop's verdict alone,
// and the status code also counts the node.
func (s *Server) answer(w http.ResponseWriter, withNode bool) {
	healthy, lastSync, now := s.check()
	resp := response{LastUpdated: lastSync, CurrentTime: now, Healthy: healthy}
	if withNode {
		s.mu.Lock()
		eligible := s.nodeEligible
		s.mu.Unlock()
		resp.NodeEligible = &eligible
		healthy = healthy && eligible
	}
	if healthy {
		resp.LastUpdated = now
	}
	body, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding health: %v", err), http.StatusInternalServerError)
		return
	}
	status := http.StatusOK
	if !healthy {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
	if s.observe != nil {
		path := "/livez"
		if withNode {
			path = "/healthz"
		}
		s.observe(path, status)
	}
}

// Run listens on the bind address and serves until ctx is done. With an
// empty bind address it returns nil at once.
func (s *Server) Run(ctx context.Context) error {
	if s.addr == "" {
		return nil
	}
	l, err := new(net.ListenConfig).Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening for health checks on %s: %w", s.addr, err)
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx is done, then closes it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if err := httpserve.Serve(ctx, l, s.Handler()); err != nil {
		return fmt.Errorf("serving health checks: %w", err)
	}
	return nil
}
