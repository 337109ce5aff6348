package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
	// Listen opens the listener of one health check node port on one
	// address, an invalid addr meaning every address of the node; nil
	// listens for real. Tests map ports to 127.0.0.1:0 here.
	Listen func(addr netip.Addr, port uint16) (net.Listener, error)
	// Health is the proxy's own health; nil counts the proxy healthy.
	Health ProxyHealth
	// Style returns how a family's rules read --nodeport-addresses (in
	// nftables mode, none means the node's primary address): health
	// check node ports follow the NodePorts, as kube-proxy's do. Nil
	// reads it as iptables mode does.
	Style func(model.Family) model.NodePortStyle
}

// NodePortServers serve the health check node ports of Services with
// externalTrafficPolicy Local: one HTTP listener per distinct
// HealthCheckNodePort, answering on every path with 200 when the Service
// has a ready local endpoint and the proxy is healthy, 503 otherwise.
type NodePortServers struct {
	listen func(addr netip.Addr, port uint16) (net.Listener, error)
	health ProxyHealth
	style  func(model.Family) model.NodePortStyle

	mu      sync.Mutex
	servers map[uint16]*nodePortServer
	// addrs are the addresses the open ports listen on; nil is every
	// address.
	addrs []netip.Addr
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

// nodePortServer is one open health check node port, on each of the
// addresses it listens on.
type nodePortServer struct {
	stop   context.CancelFunc
	done   sync.WaitGroup
	target atomic.Pointer[serviceHealth]
}

// NewNodePortServers returns NodePortServers with no port open; Sync
// opens them.
func NewNodePortServers(cfg NodePortConfig) *NodePortServers {
	n := &NodePortServers{listen: cfg.Listen, health: cfg.Health, style: cfg.Style, servers: map[uint16]*nodePortServer{}}
	if n.listen == nil {
		n.listen = listen
	}
	if n.style == nil {
		n.style = func(model.Family) model.NodePortStyle { return model.NodePortStyle{Localhost: true} }
	}
	return n
}

// listen listens on port at addr: on every address of both families when
// addr is invalid, of one family when it is that family's unspecified
// address.
func listen(addr netip.Addr, port uint16) (net.Listener, error) {
	switch {
	case !addr.IsValid():
		return net.Listen("tcp", ":"+strconv.Itoa(int(port)))
	case addr.Is4():
		return net.Listen("tcp4", netip.AddrPortFrom(addr, port).String())
	}
	return net.Listen("tcp6", netip.AddrPortFrom(addr, port).String())
}

// listenAddrs returns the addresses health check node ports listen on,
// as kube-proxy chooses them: the node addresses that take NodePort
// traffic (model.Model.NodePortIPs), and, for a family where every
// address does, every address of that family; nil, meaning every
// address, when that is so in every family.
func listenAddrs(models []*model.Model, style func(model.Family) model.NodePortStyle) []netip.Addr {
	restricted := false
	var out []netip.Addr
	for _, m := range models {
		if m == nil {
			continue
		}
		ips, all := m.NodePortIPs(style(m.Family))
		if all {
			out = append(out, unspecified(m.Family))
			continue
		}
		restricted = true
		out = append(out, ips...)
	}
	if !restricted {
		return nil
	}
	if out == nil {
		// Not nil: nowhere is not everywhere.
		return []netip.Addr{}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func unspecified(f model.Family) netip.Addr {
	if f == model.IPv6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// Sync makes the open health check node ports those of the Services in
// models (one model per family): it closes ports no longer needed, keeps
// and updates open ones, and opens new ones. A port that cannot be opened
// is reported in the returned error, naming its Service, and retried at
// the next Sync; the other ports are served regardless.
func (n *NodePortServers) Sync(models []*model.Model) error {
	want, errs := healthCheckPorts(models)
	addrs := listenAddrs(models, n.style)
	n.mu.Lock()
	defer n.mu.Unlock()
	for port, s := range n.servers {
		// Ports listening elsewhere than they now should reopen below.
		if _, ok := want[port]; !ok || !slices.Equal(addrs, n.addrs) {
			s.close()
			delete(n.servers, port)
		}
	}
	n.addrs = addrs
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

// open listens on port at every address of n.addrs (every address when
// nil) and serves target's health there. If one address fails, none is
// kept open.
func (n *NodePortServers) open(port uint16, target serviceHealth) (*nodePortServer, error) {
	addrs := n.addrs
	switch {
	case addrs == nil:
		addrs = []netip.Addr{{}}
	case len(addrs) == 0:
		return nil, errors.New("no address of the node is in --nodeport-addresses")
	}
	listeners := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		l, err := n.listen(a, port)
		if err != nil {
			for _, open := range listeners {
				_ = open.Close()
			}
			return nil, err
		}
		listeners = append(listeners, l)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &nodePortServer{stop: stop}
	s.target.Store(&target)
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { n.answer(w, s.target.Load()) })
	for _, l := range listeners {
		s.done.Go(func() {
			_ = httpserve.Serve(ctx, l, handler) // nil once close cancels ctx
		})
	}
	return s, nil
}

// close stops the server and waits for it.
func (s *nodePortServer) close() {
	s.stop()
	s.done.Wait()
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
