package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// shutdownTimeout bounds how long serving waits for scrapes in flight
// once its context is done.
const shutdownTimeout = 5 * time.Second

// Server serves the metrics on /metrics.
type Server struct {
	addr    string
	metrics *Metrics
}

// NewServer returns a Server for m on bindAddress (host:port; empty
// disables it). It starts nothing; call Run or Serve.
func NewServer(bindAddress string, m *Metrics) *Server {
	return &Server{addr: bindAddress, metrics: m}
}

// Handler returns the handler serving /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
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
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving metrics on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down metrics server on %s: %w", l.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics on %s: %w", l.Addr(), err)
	}
	return nil
}
