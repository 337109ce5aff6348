package nfttrace

import (
	"net/netip"
	"testing"

	"github.com/svcproxy/svcproxy/internal/tracer"
	"github.com/svcproxy/svcproxy/pkg/model"
)

// listed is a table as nft 1.0 lists it: named priorities, elements over
// several lines, chains after the sets, tcp dport where the renderer
// wrote th dport.
const listed = `table ip svcproxy {
	comment "svcproxy service proxy rules"
	map select-tcp-2 {
		typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . tcp dport
		elements = { 10.96.0.10 . tcp . 80 . 0 : 10.244.1.5 . 8080,
			     10.96.0.10 . tcp . 80 . 1 : 10.244.2.7 . 8080 }
	}

	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.10 . tcp . 80 comment "demo/web:http" : goto dnat-tcp-2 }
	}

	chain dnat-tcp-2 {
		dnat ip to ip daddr . meta l4proto . tcp dport . numgen random mod 2 map @select-tcp-2 comment "random endpoint of 2"
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services comment "service dispatch"
	}

	chain filter-prerouting {
		type filter hook prerouting priority dstnat - 10; policy accept;
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips comment "cluster, external and load balancer IPs"
	}
}
`

func TestLoadListed(t *testing.T) {
	table, err := LoadListed(listed)
	if err != nil {
		t.Fatal(err)
	}
	if c := table.Chains["filter-prerouting"]; c.Priority != -110 {
		t.Errorf("dstnat - 10 read as %d, want -110", c.Priority)
	}
	p := tracer.Packet{Src: netip.MustParseAddr("10.244.9.9"), Dst: netip.MustParseAddr("10.96.0.10"), Protocol: model.TCP, Port: 80}
	routes, err := Routes(table, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := tracer.Outcomes(routes).String(); got != "10.244.1.5:8080 10.244.2.7:8080" {
		t.Errorf("outcomes %s", got)
	}
	if st := routes[0].Path[1]; st.ElementComment != "demo/web:http" || st.Element != "10.96.0.10 . tcp . 80 : goto dnat-tcp-2" {
		t.Errorf("the dispatch step %+v does not name the element and its port", st)
	}
}
