package live

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/watch"
)

// writers is how many objects are created at once: enough to keep the
// apiserver busy, few enough not to starve it on two cores.
const writers = 16

// NodeIP is the InternalIP of the benchmark's Node object.
var NodeIP = netip.MustParseAddr("192.168.0.10")

// populate writes the Node, the Namespace and every Service and
// EndpointSlice of in to the API. Cluster IPs and NodePorts are left to
// the apiserver to allocate, since the synthetic plan does not fit every
// apiserver's ranges; neither proxy's cost depends on which addresses they
// are.
func populate(ctx context.Context, c kubernetes.Interface, mix bench.Mix, progress func(string, ...any)) error {
	in, err := bench.Generate(mix)
	if err != nil {
		return err
	}
	if err := createNode(ctx, c); err != nil {
		return err
	}
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bench.Namespace}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", bench.Namespace, err)
	}
	start := time.Now()
	err = forEach(ctx, len(in.Services), func(ctx context.Context, i int) error {
		svc := in.Services[i].DeepCopy()
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		for j := range svc.Spec.Ports {
			svc.Spec.Ports[j].NodePort = 0
		}
		svc.Spec.HealthCheckNodePort = 0
		if _, err := c.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		slice := in.EndpointSlices[i]
		if _, err := c.DiscoveryV1().EndpointSlices(slice.Namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating EndpointSlice %s/%s: %w", slice.Namespace, slice.Name, err)
		}
		if (i+1)%1000 == 0 {
			progress("created %d of %d Services (%v)", i+1, len(in.Services), time.Since(start).Round(time.Second))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the %d-Service cluster: %w", mix.Services, err)
	}
	return nil
}

// createNode creates the Node both proxies run as, with its address.
func createNode(ctx context.Context, c kubernetes.Interface) error {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: bench.NodeName}}
	created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating Node %s: %w", bench.NodeName, err)
	}
	created.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: NodeIP.String()}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting the address of Node %s: %w", bench.NodeName, err)
	}
	return nil
}

// forEach calls fn for 0…n-1 from writers goroutines, stopping at the
// first error.
func forEach(ctx context.Context, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// changeEndpoint moves the first endpoint of Service i's EndpointSlice to
// a new address and stamps the write with its trigger time, as the
// EndpointSlice controller does, so proxies can report the latency from
// this moment. generation makes each change's address new.
func changeEndpoint(ctx context.Context, c kubernetes.Interface, i, generation int) (time.Time, error) {
	name := fmt.Sprintf("svc-%05d-1", i)
	slices := c.DiscoveryV1().EndpointSlices(bench.Namespace)
	s, err := slices.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("getting EndpointSlice %s: %w", name, err)
	}
	s.Endpoints[0].Addresses = []string{changedAddress(generation).String()}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	now := time.Now()
	s.Annotations[watch.AnnotationTriggerTime] = now.UTC().Format(time.RFC3339Nano)
	if _, err := slices.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return time.Time{}, fmt.Errorf("updating EndpointSlice %s: %w", name, err)
	}
	return now, nil
}

// changedAddress is an endpoint address outside the synthetic pod plan.
func changedAddress(generation int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 255, byte(generation >> 8), byte(generation)})
}
