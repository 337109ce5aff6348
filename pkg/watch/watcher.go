package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	networking "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Watcher runs the informers that feed a Tracker: Services and
// EndpointSlices selected by LabelSelector, the one Node named after the
// Tracker's node, and ServiceCIDRs where the API server has them.
type Watcher struct {
	tracker *Tracker
	// factories are the shared informer factories: one for Services and
	// EndpointSlices, one for the Node, whose field selector differs,
	// and one for ServiceCIDRs, which no label selects.
	factories []informers.SharedInformerFactory
	// handlers report, for each informer, whether the Tracker has been
	// given every object of the informer's initial list.
	handlers []cache.ResourceEventHandlerRegistration
	runOnce  sync.Once
}

// NewWatcher builds the informers for tracker's node on client, with the
// given resync period (0 disables resyncs), and registers tracker's
// handlers. Nothing runs until Run.
func NewWatcher(client kubernetes.Interface, tracker *Tracker, resync time.Duration) (*Watcher, error) {
	if client == nil || tracker == nil {
		return nil, errors.New("creating watcher: client and tracker are required")
	}
	if tracker.NodeName() == "" {
		return nil, errors.New("creating watcher: the node name is empty")
	}
	proxied := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(trim),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelSelector }))
	node := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(trim),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", tracker.NodeName()).String()
		}))
	w := &Watcher{tracker: tracker, factories: []informers.SharedInformerFactory{proxied, node}}

	regs := []struct {
		kind     string
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{
		{"Services", proxied.Core().V1().Services().Informer(),
			handlerFor(tracker.OnServiceAdd, tracker.OnServiceUpdate, tracker.deleteService)},
		{"EndpointSlices", proxied.Discovery().V1().EndpointSlices().Informer(),
			handlerFor(tracker.OnEndpointSliceAdd, tracker.OnEndpointSliceUpdate, tracker.deleteSlice)},
		{"Node", node.Core().V1().Nodes().Informer(),
			handlerFor(tracker.OnNodeAdd, tracker.OnNodeUpdate, tracker.deleteNode)},
	}
	for _, r := range regs {
		reg, err := r.informer.AddEventHandler(r.handler)
		if err != nil {
			return nil, fmt.Errorf("registering %s handler: %w", r.kind, err)
		}
		w.handlers = append(w.handlers, reg)
	}
	if err := w.watchServiceCIDRs(client, resync); err != nil {
		return nil, err
	}
	return w, nil
}

// watchServiceCIDRs adds the ServiceCIDR informer where the API server
// serves networking.k8s.io/v1 ServiceCIDRs (Kubernetes 1.33 and later).
// The first sync does not wait for it: its rule only drops traffic to
// cluster IPs no Service holds, and an API server that refuses to list
// them (an older ClusterRole) must not keep the proxy from syncing.
func (w *Watcher) watchServiceCIDRs(client kubernetes.Interface, resync time.Duration) error {
	if !servesServiceCIDRs(client) {
		return nil
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, resync)
	inf := f.Networking().V1().ServiceCIDRs().Informer()
	h := handlerFor(w.tracker.OnServiceCIDRAdd, w.tracker.OnServiceCIDRUpdate, w.tracker.deleteServiceCIDR)
	if _, err := inf.AddEventHandler(h); err != nil {
		return fmt.Errorf("registering ServiceCIDRs handler: %w", err)
	}
	w.factories = append(w.factories, f)
	return nil
}

// servesServiceCIDRs asks the API server's discovery whether it has
// ServiceCIDRs.
func servesServiceCIDRs(client kubernetes.Interface) bool {
	list, err := client.Discovery().ServerResourcesForGroupVersion(networking.SchemeGroupVersion.String())
	if err != nil {
		return false
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "servicecidrs" })
}

// Run starts the informers and blocks until ctx is done, then stops them
// and waits for their goroutines to end. A Watcher runs once; later calls
// return at once.
func (w *Watcher) Run(ctx context.Context) {
	w.runOnce.Do(func() {
		for _, f := range w.factories {
			f.Start(ctx.Done())
		}
		<-ctx.Done()
		for _, f := range w.factories {
			f.Shutdown()
		}
	})
}

// HasSynced reports whether the Service, EndpointSlice and Node informers
// have listed their objects and the Tracker has been given every one of
// them.
func (w *Watcher) HasSynced() bool {
	for _, h := range w.handlers {
		if !h.HasSynced() {
			return false
		}
	}
	return true
}

// handlerFor adapts typed Tracker methods to an informer handler. Deletions
// are by key, since a tombstone may carry no object at all.
func handlerFor[T interface {
	*v1.Service | *discovery.EndpointSlice | *v1.Node | *networking.ServiceCIDR
}](add func(T), update func(old, cur T), del func(key string)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(T); ok {
				add(o)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(T)
			n, okNew := newObj.(T)
			if okOld && okNew {
				update(o, n)
			}
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				del(key)
			}
		},
	}
}
