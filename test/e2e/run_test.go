package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcproxy/svcproxy/internal/testnet"
)

// syncBudget bounds the wait for a change written to the API server to
// show in the rules and the traffic. It is not a measure of speed (the
// benchmark measures that): the proxy runs with a periodic sync an hour
// away (proxySyncPeriod), so a change seen within the budget was put in
// by the sync the change itself triggered.
const syncBudget = 20 * time.Second

// proxySyncPeriod is the proxy's --sync-period: longer than any test, so
// that no periodic sync can stand in for the one a change triggers.
const proxySyncPeriod = "1h"

// TestRunFollowsTheAPIServer creates, updates and deletes a Service and
// its EndpointSlice with client-go while svcproxy run watches, in each
// backend, and checks that traffic follows every change.
func TestRunFollowsTheAPIServer(t *testing.T) {
	for _, mode := range []string{"nftables", "iptables-nft", "iptables-legacy"} {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t, mode)
			sl := slice("web", v1.ProtocolTCP, echoPort, ready(podA, podB)...)
			c.createService(t, service("web", "10.0.0.50", 80, v1.ProtocolTCP), sl)
			eventually(t, syncBudget, "new Service", c.reaches(testnet.TCP, "10.0.0.50:80", 20, podA, podB))

			sl.Endpoints = append(sl.Endpoints, slice("web", v1.ProtocolTCP, echoPort, ready(podC)...).Endpoints...)
			c.updateSlice(t, sl)
			eventually(t, syncBudget, "endpoint added", c.reaches(testnet.TCP, "10.0.0.50:80", 40, podA, podB, podC))

			sl.Endpoints = sl.Endpoints[1:]
			c.updateSlice(t, sl)
			eventually(t, syncBudget, "endpoint removed", c.reaches(testnet.TCP, "10.0.0.50:80", 30, podB, podC))

			sl.Endpoints = slice("web", v1.ProtocolTCP, echoPort, endpoint{podB, "terminating"}, endpoint{podC, "ready"}).Endpoints
			c.updateSlice(t, sl)
			eventually(t, syncBudget, "endpoint terminating", c.reaches(testnet.TCP, "10.0.0.50:80", 20, podC))

			c.updateService(t, "web", func(s *v1.Service) { s.Spec.Ports[0].Port = 81 })
			eventually(t, syncBudget, "port changed", c.reaches(testnet.TCP, "10.0.0.50:81", 5, podC))

			c.updateService(t, "web", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
			})
			eventually(t, syncBudget, "type changed to NodePort", func() error {
				a, err := testnet.Ask(c.topo.External, testnet.TCP, externalClient, netip.MustParseAddrPort("192.168.0.10:30080"), 500*time.Millisecond)
				if err == nil && a.Endpoint.Addr() != podC {
					err = fmt.Errorf("reached %s", a.Endpoint)
				}
				return err
			})

			ctx := context.Background()
			if err := c.client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, sl.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, syncBudget, "Service deleted", c.unanswered("10.0.0.50:81"))
		})
	}
}
