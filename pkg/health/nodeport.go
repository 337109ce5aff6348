package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/svcproxy/svcproxy/internal/httpserve"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// ProxyHealth is the proxy's own health, which every health check node
// port reports alongside its Service's local endpoints.
type ProxyHealth interface {
	// Healthy reports whether the proxy keeps up with changes.
	Healthy() bool
}

var _ ProxyHealth = (*Server)(nil)

// NodePortConfig configures NodePortServers.
type NodePortConfig struct {
	// Listen opens the listener of one health check node port; nil
	// listens on the port on every address of the node. Tests map ports
	// to 127.0.0.1:0 here.
	Listen func(port uint16) (net.Listener, error)
	// Health is the proxy's own health; nil counts the proxy healthy.
	Health ProxyHealth
}

// NodePortServers serve the health check node ports of Services with
// externalTrafficPolicy Local: one HTTP listener per distinct
// HealthCheckNodePort, answering on every path with 200 when the Service
// has a ready local endpoint and the proxy is healthy, 503 otherwise.
type NodePortServers struct {
	listen func(port uint16) (net.Listener, error)
	health ProxyHealth

	mu      sync.Mutex
	servers map[uint16]*nodePortServer
}

// ServiceName names a Service in a health check answer.
type ServiceName struct {
	// Namespace is the Service's namespace.
	Namespace string `json:"namespace"`
	// Name is the Service's name.
	Name string `json:"name"`
}

// serviceHealth is what one health check node port reports.
type serviceHealth struct {
	service        ServiceName
	localEndpoints int
}

// nodePortServer is one open health check node port.
type nodePortServer struct {
	stop   context.CancelFunc
	done   chan struct{}
	target atomic.Pointer[serviceHealth]
}

// NewNodePortServers returns NodePortServers with no port open; Sync
// opens them.
func NewNodePortServers(cfg NodePortConfig) *NodePortServers {
	n := &NodePortServers{listen: cfg.Listen, health: cfg.Health, servers: map[uint16]*nodePortServer{}}
	if n.listen == nil {
		n.listen = listenAllAddresses
	}
	return n
}

// listenAllAddresses listens on port on every address of both families.
func listenAllAddresses(port uint16) (net.Listener, error) {
	return net.Listen("tcp", ":"+strconv.Itoa(int(port)))
}

// Sync makes the open health check node ports those of the Services in
// models (one model per family): it closes ports no longer needed, keeps
// and updates open ones, and opens new ones. A port that cannot be opened
// is reported in the returned error, naming its Service, and retried at
// the next Sync; the other ports are served regardless.
func (n *NodePortServers) Sync(models []*model.Model) error {
	want, errs := healthCheckPorts(models)
	n.mu.Lock()
	defer n.mu.Unlock()
	for port, s := range n.servers {
		if _, ok := want[port]; !ok {
			s.close()
			delete(n.servers, port)
		}
	}
	ports := make([]uint16, 0, len(want))
	for port := range want {
		ports = append(ports, port)
	}
	slices.Sort(ports)
	for _, port := range ports {
		target := want[port]
		if s, ok := n.servers[port]; ok {
			s.target.Store(&target)
			continue
		}
		s, err := n.open(port, target)
		if err != nil {
			errs = append(errs, fmt.Errorf("opening health check node port %d of Service %s/%s: %w",
				port, target.service.Namespace, target.service.Name, err))
			continue
		}
		n.servers[port] = s
	}
	return errors.Join(errs...)
}

// Close closes every open port and waits for their servers to stop.
func (n *NodePortServers) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for port, s := range n.servers {
		s.close()
		delete(n.servers, port)
	}
}

// open listens on port and serves target's health there.
func (n *NodePortServers) open(port uint16, target serviceHealth) (*nodePortServer, error) {
	l, err := n.listen(port)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &nodePortServer{stop: stop, done: make(chan struct{})}
	s.target.Store(&target)
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { n.answer(w, s.target.Load()) })
	go func() {
		defer close(s.done)
		_ = httpserve.Serve(ctx, l, handler) // nil once close cancels ctx
	}()
	return s, nil
}

// close stops the server and waits for it.
func (s *nodePortServer) close() {
	s.stop()
	<-s.done
}

// nodePortResponse is the JSON body of a health check node port.
type nodePortResponse struct {
	Service             ServiceName `json:"service"`
	LocalEndpoints      int         `json:"localEndpoints"`
	ServiceProxyHealthy bool        `json:"serviceProxyHealthy"`
}

// answer writes target's health.
func (n *NodePortServers) answer(w http.ResponseWriter, target *serviceHealth) {
	proxyHealthy := n.health == nil || n.health.Healthy()
	body, err := json.Marshal(nodePortResponse{
		Service:             target.service,
		LocalEndpoints:      target.localEndpoints,
		ServiceProxyHealthy: proxyHealthy,
	})
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding health: %v", err), http.StatusInternalServerError)
		return
	}
	status := http.StatusOK
	if target.localEndpoints == 0 || !proxyHealthy {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}
