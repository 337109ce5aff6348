package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/svcproxy/svcproxy/internal/httpserve"
)

// Server serves the metrics on /metrics.
type Server struct {
	addr    string
	metrics *Metrics
	// Profiling serves Go's profiles on /debug/pprof/ too, as
	// kube-proxy's --profiling does on its metrics server.
	Profiling bool
}

// NewServer returns a Server for m on bindAddress (host:port; empty
// disables it). It starts nothing; call Run or Serve.
func NewServer(bindAddress string, m *Metrics) *Server {
	return &Server{addr: bindAddress, metrics: m}
}

// Handler returns the handler serving /metrics, and the profiles with
// Profiling.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	if s.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Run listens on the bind address and serves until ctx is done. With an
// empty bind address it returns nil at once.
func (s *Server) Run(ctx context.Context) error {
	if s.addr == "" {
		return nil
	}
	l, err := new(net.ListenConfig).Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s: %w", s.addr, err)
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx is done, then shuts down and closes l. It
// returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if err := httpserve.Serve(ctx, l, s.Handler()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
