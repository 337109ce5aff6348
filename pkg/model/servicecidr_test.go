package model

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	networking "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func serviceCIDRObject(name string, cidrs ...string) *networking.ServiceCIDR {
	return &networking.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networking.ServiceCIDRSpec{CIDRs: cidrs}}
}

func TestBuildServiceCIDRs(t *testing.T) {
	node := Node{Name: "node-a", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.10"), netip.MustParseAddr("fd00:192::10")}}
	cfg := Config{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	in := Input{Node: node, ServiceCIDRs: []*networking.ServiceCIDR{
		serviceCIDRObject("kubernetes", "172.30.0.0/16", "fd00:30::/108"),
		serviceCIDRObject("extra", "172.31.0.0/24", "172.30.0.0/16"),
		serviceCIDRObject("nodes", "192.168.0.0/24"),
		serviceCIDRObject("pods", "10.0.0.0/8"),
		serviceCIDRObject("bad", "not-a-cidr"),
		nil,
	}}
	models, warns := Build(in, cfg)
	want := map[Family]string{IPv4: "172.30.0.0/16 172.31.0.0/24", IPv6: "fd00:30::/108"}
	for _, m := range models {
		var got []string
		for _, p := range m.ServiceCIDRs {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != want[m.Family] {
			t.Errorf("%s ServiceCIDRs %v, want %s", m.Family, got, want[m.Family])
		}
	}
	var objects []string
	for _, w := range warns {
		if w.Kind != "ServiceCIDR" {
			t.Errorf("unexpected warning %s", w)
		}
		objects = append(objects, w.Object)
	}
	slices.Sort(objects)
	if strings.Join(objects, " ") != "bad nodes pods" {
		t.Errorf("warnings %v, want one each for bad, nodes and pods", warns)
	}
}

// TestServiceCIDRChangeIsAContextChange makes sure a delta is never
// computed across a ServiceCIDR change, which reaches a rule that no
// Service owns.
func TestServiceCIDRChangeIsAContextChange(t *testing.T) {
	b := NewBuilder(Config{})
	in := Input{Node: Node{Name: "node-a"}, ServiceCIDRs: []*networking.ServiceCIDR{serviceCIDRObject("kubernetes", "172.30.0.0/16")}}
	before, _ := b.Build(in)
	in.ServiceCIDRs = append(in.ServiceCIDRs, serviceCIDRObject("extra", "172.31.0.0/16"))
	after, _ := b.Update(in, Changes{})
	if SameContext(before[0], after[0]) {
		t.Error("a new ServiceCIDR left the model's context the same")
	}
	if len(after[0].ServiceCIDRs) != 2 {
		t.Errorf("Update kept ServiceCIDRs %v", after[0].ServiceCIDRs)
	}
}
