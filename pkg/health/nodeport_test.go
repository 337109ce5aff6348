package health

// Address plan: local endpoints are pods 10.1.1.5–7 and fd00:1:1::5–6;
// health check node ports are 30001–30003, which the tests' Listen maps
// to 127.0.0.1:0.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// hcPort returns a ServicePort of Service ns/name with the given health
// check node port and local endpoints at addrs, ready unless listed in
// notReady.
func hcPort(name string, port uint16, hcnp uint16, addrs []string, notReady ...string) *model.ServicePort {
	sp := &model.ServicePort{
		Name:                model.PortName{Namespace: "ns", Name: name, Port: strconv.Itoa(int(port)), Protocol: model.TCP},
		Port:                port,
		HealthCheckNodePort: hcnp,
		ExternalPolicyLocal: hcnp != 0,
	}
	for _, a := range addrs {
		ready := true
		for _, nr := range notReady {
			ready = ready && nr != a
		}
		sp.LocalEndpoints = append(sp.LocalEndpoints, model.Endpoint{IP: netip.MustParseAddr(a), Port: 8080, Local: true, Ready: ready})
	}
	return sp
}

// models wraps service ports in a model of the given family.
func modelOf(f model.Family, sps ...*model.ServicePort) *model.Model {
	return &model.Model{Family: f, Services: sps}
}

func TestHealthCheckPorts(t *testing.T) {
	tests := []struct {
		name    string
		models  []*model.Model
		want    map[uint16]serviceHealth
		wantErr string
	}{
		{
			name: "ports without health check port are ignored",
			models: []*model.Model{modelOf(model.IPv4,
				hcPort("a", 80, 0, []string{"10.1.1.5"}),
				hcPort("b", 80, 30001, []string{"10.1.1.5", "10.1.1.6"}))},
			want: map[uint16]serviceHealth{30001: {ServiceName{"ns", "b"}, 2}},
		},
		{
			name: "endpoints counted once over ports",
			models: []*model.Model{modelOf(model.IPv4,
				hcPort("b", 80, 30001, []string{"10.1.1.5", "10.1.1.6"}),
				hcPort("b", 443, 30001, []string{"10.1.1.6", "10.1.1.7"}))},
			want: map[uint16]serviceHealth{30001: {ServiceName{"ns", "b"}, 3}},
		},
		{
			name: "dual-stack pods counted once",
			models: []*model.Model{
				modelOf(model.IPv4, hcPort("b", 80, 30001, []string{"10.1.1.5"})),
				modelOf(model.IPv6, hcPort("b", 80, 30001, []string{"fd00:1:1::5", "fd00:1:1::6"})),
			},
			want: map[uint16]serviceHealth{30001: {ServiceName{"ns", "b"}, 2}},
		},
		{
			name:   "only ready endpoints count",
			models: []*model.Model{modelOf(model.IPv4, hcPort("b", 80, 30001, []string{"10.1.1.5", "10.1.1.6"}, "10.1.1.5", "10.1.1.6"))},
			want:   map[uint16]serviceHealth{30001: {ServiceName{"ns", "b"}, 0}},
		},
		{
			name: "port claimed twice",
			models: []*model.Model{modelOf(model.IPv4,
				hcPort("a", 80, 30001, []string{"10.1.1.5"}),
				hcPort("b", 80, 30001, nil),
				hcPort("b", 81, 30001, nil))},
			want:    map[uint16]serviceHealth{30001: {ServiceName{"ns", "a"}, 1}},
			wantErr: "health check node port 30001 of Service ns/b: already used by Service ns/a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := healthCheckPorts(append(tt.models, nil))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(serviceHealth{})); diff != "" {
				t.Errorf("healthCheckPorts (-want +got):\n%s", diff)
			}
			if gotErr := fmt.Sprint(errors.Join(errs...)); tt.wantErr != "" && gotErr != tt.wantErr || tt.wantErr == "" && errs != nil {
				t.Errorf("errors = %q, want %q", gotErr, tt.wantErr)
			}
		})
	}
}

// loopback is a Listen seam that opens each port on 127.0.0.1:0 and
// remembers where, failing for the ports in fail.
type loopback struct {
	mu    sync.Mutex
	addrs map[uint16]string
	opens int
	fail  map[uint16]bool
}

func (l *loopback) listen(_ netip.Addr, port uint16) (net.Listener, error) {
	if l.fail[port] {
		return nil, fmt.Errorf("port %d is busy", port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs[port] = ln.Addr().String()
	l.opens++
	return ln, nil
}

// unhealthy is a ProxyHealth that always fails.
type unhealthy struct{}

func (unhealthy) Healthy() bool { return false }

// get asks a health check node port and returns the status and body.
func get(t *testing.T, addr string) (int, string, error) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

func TestNodePortServersAnswers(t *testing.T) {
	tests := []struct {
		name     string
		health   ProxyHealth
		sp       *model.ServicePort
		want     int
		wantBody string
	}{
		{
			name: "local endpoints", sp: hcPort("a", 80, 30001, []string{"10.1.1.5", "10.1.1.6"}), want: 200,
			wantBody: `{"service":{"namespace":"ns","name":"a"},"localEndpoints":2,"serviceProxyHealthy":true}`,
		},
		{
			name: "no local endpoint", sp: hcPort("a", 80, 30001, nil), want: 503,
			wantBody: `{"service":{"namespace":"ns","name":"a"},"localEndpoints":0,"serviceProxyHealthy":true}`,
		},
		{
			name: "proxy unhealthy", health: unhealthy{}, sp: hcPort("a", 80, 30001, []string{"10.1.1.5"}), want: 503,
			wantBody: `{"service":{"namespace":"ns","name":"a"},"localEndpoints":1,"serviceProxyHealthy":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := &loopback{addrs: map[uint16]string{}}
			n := NewNodePortServers(NodePortConfig{Listen: lb.listen, Health: tt.health})
			defer n.Close()
			if err := n.Sync([]*model.Model{modelOf(model.IPv4, tt.sp)}); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			status, body, err := get(t, lb.addrs[30001])
			if err != nil || status != tt.want || body != tt.wantBody {
				t.Errorf("GET = %d %s, %v; want %d %s", status, body, err, tt.want, tt.wantBody)
			}
		})
	}
}

func TestNodePortServersSync(t *testing.T) {
	lb := &loopback{addrs: map[uint16]string{}, fail: map[uint16]bool{30003: true}}
	n := NewNodePortServers(NodePortConfig{Listen: lb.listen})
	defer n.Close()

	err := n.Sync([]*model.Model{modelOf(model.IPv4,
		hcPort("a", 80, 30001, []string{"10.1.1.5"}),
		hcPort("b", 80, 30002, nil),
		hcPort("c", 80, 30003, []string{"10.1.1.7"}))})
	if err == nil || !strings.Contains(err.Error(), "health check node port 30003 of Service ns/c") {
		t.Errorf("Sync error = %v, want one naming port 30003 and Service ns/c", err)
	}
	wantStatus(t, lb.addrs[30001], 200)
	wantStatus(t, lb.addrs[30002], 503)

	// a goes away, b gains an endpoint: b keeps its listener.
	if err := n.Sync([]*model.Model{modelOf(model.IPv4, hcPort("b", 80, 30002, []string{"10.1.1.6"}))}); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if lb.opens != 2 {
		t.Errorf("listeners opened = %d, want 2 (b's kept)", lb.opens)
	}
	wantStatus(t, lb.addrs[30002], 200)
	if _, _, err := get(t, lb.addrs[30001]); err == nil {
		t.Errorf("port 30001 still answers after its Service went away")
	}
}

// wantStatus checks the status a health check node port answers with.
func wantStatus(t *testing.T, addr string, want int) {
	t.Helper()
	status, body, err := get(t, addr)
	if err != nil || status != want {
		t.Errorf("GET %s = %d %s, %v; want %d", addr, status, body, err, want)
	}
}

func TestNodePortServersBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := uint16(busy.Addr().(*net.TCPAddr).Port)
	n := NewNodePortServers(NodePortConfig{})
	defer n.Close()
	err = n.Sync([]*model.Model{modelOf(model.IPv4, hcPort("a", 80, port, nil))})
	want := fmt.Sprintf("health check node port %d of Service ns/a", port)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Sync error = %v, want one containing %q", err, want)
	}
}

// restricted returns m on a node with ips, accepting NodePort traffic on
// the addresses in nodePortAddresses.
func restricted(m *model.Model, ips []string, nodePortAddresses ...string) *model.Model {
	for _, ip := range ips {
		m.Node.IPs = append(m.Node.IPs, netip.MustParseAddr(ip))
	}
	for _, p := range nodePortAddresses {
		m.Config.NodePortAddresses = append(m.Config.NodePortAddresses, netip.MustParsePrefix(p))
	}
	return m
}

func TestListenAddrs(t *testing.T) {
	tests := []struct {
		name   string
		models []*model.Model
		// nftables has the families in nftables mode, where no
		// --nodeport-addresses means the primary address.
		nftables bool
		want     string
	}{
		{name: "unrestricted listens everywhere", models: []*model.Model{
			restricted(modelOf(model.IPv4), []string{"192.168.0.10"}),
			restricted(modelOf(model.IPv6), []string{"fd00:192::10"}),
		}, want: ""},
		{name: "only the node addresses admitted", models: []*model.Model{
			restricted(modelOf(model.IPv4), []string{"192.168.0.10", "198.51.100.10"}, "192.168.0.0/24"),
		}, want: "192.168.0.10"},
		{name: "a family left unrestricted listens on all of its addresses", models: []*model.Model{
			restricted(modelOf(model.IPv4), []string{"192.168.0.10", "198.51.100.10"}, "192.168.0.0/24"),
			restricted(modelOf(model.IPv6), []string{"fd00:192::10"}),
		}, want: "192.168.0.10 ::"},
		{name: "nftables mode listens on the primary address by default", nftables: true, models: []*model.Model{
			restricted(modelOf(model.IPv4), []string{"192.168.0.10", "198.51.100.10"}),
		}, want: "192.168.0.10"},
		{name: "no node address admitted", models: []*model.Model{
			restricted(modelOf(model.IPv4), []string{"198.51.100.10"}, "192.168.0.0/24"),
		}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range listenAddrs(tt.models, func(model.Family) model.NodePortStyle { return model.NodePortStyle{PrimaryByDefault: tt.nftables} }) {
				got = append(got, a.String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("listen on %q, want %q", got, tt.want)
			}
		})
	}
	if got := listenAddrs([]*model.Model{restricted(modelOf(model.IPv4), []string{"198.51.100.10"}, "192.168.0.0/24")}, func(model.Family) model.NodePortStyle { return model.NodePortStyle{} }); got == nil {
		t.Error("no admitted address reads as every address")
	}
}

// TestNodePortServersListenOnNodePortAddresses opens a real health check
// node port on a node whose --nodeport-addresses admit one loopback
// address (the whole of 127.0.0.0/8 is on lo): it answers there and not
// on another address of the node.
func TestNodePortServersListenOnNodePortAddresses(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	m := restricted(modelOf(model.IPv4, hcPort("a", 80, port, []string{"10.1.1.5"})),
		[]string{"127.0.0.1", "127.0.0.2"}, "127.0.0.2/32")
	n := NewNodePortServers(NodePortConfig{})
	defer n.Close()
	if err := n.Sync([]*model.Model{m}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	wantStatus(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port).String(), 200)
	if _, _, err := get(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()); err == nil {
		t.Error("the port answers on an address --nodeport-addresses does not admit")
	}
	// Lifting the restriction reopens the port on every address.
	m.Config.NodePortAddresses = nil
	if err := n.Sync([]*model.Model{m}); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	wantStatus(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String(), 200)
}
