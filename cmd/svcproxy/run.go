package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcproxy/svcproxy/internal/sysctl"
	"github.com/svcproxy/svcproxy/pkg/conntrack"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/proxy"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// gcPercent is run's garbage collection target unless GOGC says
// otherwise. Most of a proxy's heap is long-lived (the informer caches,
// the model, what the appliers remember), and Go's default of 100 lets
// garbage grow as large as all of that before a collection. A node
// agent's memory is reserved on every node, so svcproxy collects at half
// of it: at 10,000 Services × 10 endpoints its RSS after a series of
// changes was 154 MB instead of 166 MB (nftables) and 163 MB instead of
// 207 MB (iptables-legacy), for a few more collections per full sync.
const gcPercent = 50

// runGCPercent returns the collection target run should set, and false
// when the environment sets GOGC, which then decides.
func runGCPercent(lookupEnv func(string) (string, bool)) (int, bool) {
	if _, set := lookupEnv("GOGC"); set {
		return 0, false
	}
	return gcPercent, true
}

func newRunCommand() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch the API server and keep this node's rules in sync, replacing kube-proxy",
		Long: `Run watches Services, EndpointSlices and this node, and brings the
node's rules to the full desired state on every change, through the
backend the host uses. It takes kube-proxy's flag names where the meaning
is the same, and a KubeProxyConfiguration file with --config. It exits on
SIGTERM without removing rules, so traffic keeps flowing across restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := o.kp.logger(cmd.ErrOrStderr())
			ignored, err := o.loadConfig(cmd.Flags())
			if err == nil {
				err = o.kp.validate()
			}
			if err != nil {
				return fmt.Errorf("run: %w", err)
			}
			for _, f := range ignored {
				log.Warn("--config field is not supported by svcproxy and is ignored", "field", f)
			}
			reportNotApplied(cmd.Flags(), log)
			if done, err := o.oneShot(cmd.Context(), cmd.OutOrStdout()); done {
				return err
			}
			o.kp.applyOOMScoreAdj(log)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, log)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// run prepares the node and runs the proxy until ctx is done; with
// --init-only it only prepares the node.
func (o *runOptions) run(ctx context.Context, log *slog.Logger) error {
	if percent, ok := runGCPercent(os.LookupEnv); ok {
		debug.SetGCPercent(percent)
	}
	node, cfg, err := o.initialize(ctx, log)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if o.kp.initOnly {
		log.Info("node initialized; exiting as --init-only asks")
		return nil
	}
	p, err := o.newProxy(log, node, cfg)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	log.Info("starting", "node", p.NodeName(), "mode", o.request())
	p.Run(ctx)
	log.Info("stopped; rules left in place")
	return nil
}

// initialize does what kube-proxy does before it starts proxying, which
// is all that --init-only does: it applies the conntrack settings and
// prepares the node for the rules (sync.Node.Initialize). It returns the
// node and the proxy configuration, whose TCPBeLiberal is read once the
// settings are in, as kube-proxy reads it.
func (o *runOptions) initialize(ctx context.Context, log *slog.Logger) (*sync.Node, model.Config, error) {
	req, err := sync.ParseRequest(o.request())
	if err != nil {
		return nil, model.Config{}, fmt.Errorf("--proxy-mode: %w", err)
	}
	cfg, err := o.modelConfig()
	if err != nil {
		return nil, cfg, err
	}
	sys := sysctl.New("")
	changed, err := conntrack.Setter{Sysctls: sys}.Apply(o.conntrack.settings())
	for _, c := range changed {
		log.Info("conntrack setting applied", "setting", c)
	}
	if err != nil {
		return nil, cfg, fmt.Errorf("%w (set --conntrack-max-per-core=0 to leave the node's table size as it is)", err)
	}
	if cfg.TCPBeLiberal, err = conntrack.TCPBeLiberal(sys); err != nil {
		return nil, cfg, fmt.Errorf("reading the node's conntrack settings: %w", err)
	}
	nl, err := o.loader.sender("")
	if err != nil {
		return nil, cfg, err
	}
	r := sync.ExecRunner{}
	node := &sync.Node{Runner: r, Detector: &sync.Detector{Runner: r, NoSanityCheck: o.noSanityCheck},
		Request: req, Conntrack: conntrack.NewCleaner(""), Sysctls: sys, Stamps: &sync.KernelStamps{}, Netlink: nl}
	prep, err := node.Initialize(ctx, cfg)
	if err != nil {
		return nil, cfg, err
	}
	if prep.RouteLocalnet {
		log.Info("set route_localnet=1 for localhost NodePorts; --iptables-localhost-nodeports=false or --nodeport-addresses without 127.0.0.0/8 turns them off")
	}
	if prep.NFAcctErr != nil {
		log.Warn("no nfacct counters: the iptables packet counter metrics will not be updated", "err", prep.NFAcctErr)
	}
	cfg.NFAcctCounters = prep.NFAcctCounters
	return node, cfg, nil
}

// newProxy turns the flags into a proxy; nothing runs until its Run.
func (o *runOptions) newProxy(log *slog.Logger, node *sync.Node, cfg model.Config) (*proxy.Proxy, error) {
	client, err := o.client()
	if err != nil {
		return nil, err
	}
	name, err := o.nodeName()
	if err != nil {
		return nil, err
	}
	return proxy.New(proxy.Config{
		Log: log, Client: client, NodeName: name, Model: cfg, Node: node,
		MinSyncPeriod: o.minSyncPeriod, SyncPeriod: o.syncPeriod, ConfigSyncPeriod: o.kp.configSyncPeriod,
		HealthzBindAddress: o.healthzBindAddress, MetricsBindAddress: o.metricsBindAddress, Profiling: o.kp.profiling,
	})
}

// request returns --proxy-mode as a detection request. "" means what it
// means to kube-proxy on Linux, iptables (in the variant the host uses):
// a kubeadm cluster's configuration leaves the mode empty, and a node
// must not change backend because its proxy binary did. "auto" asks for
// nftables where the host supports it.
func (o *runOptions) request() string {
	if o.proxyMode == "" {
		return string(sync.RequestIPTables)
	}
	return o.proxyMode
}

// modelConfig returns the proxy configuration the flags describe.
func (o *runOptions) modelConfig() (model.Config, error) {
	cfg := model.Config{MasqueradeBit: o.masqueradeBit, MasqueradeAll: o.masqueradeAll, LocalhostNodePorts: o.localhostNodePorts,
		DetectLocalNodeCIDR: o.kp.detectLocalMode == detectNodeCIDR}
	if o.masqueradeBit < 0 || o.masqueradeBit > 31 {
		return cfg, fmt.Errorf("--iptables-masquerade-bit %d: want 0-31", o.masqueradeBit)
	}
	var err error
	if cfg.ClusterCIDRs, err = model.ParseCIDRs(o.clusterCIDRs); err != nil {
		return cfg, fmt.Errorf("--cluster-cidr: %w", err)
	}
	if cfg.PodInterface, cfg.PodInterfacePrefix, err = podInterface(o.kp.detectLocalMode, o.kp.podBridge, o.kp.podPrefix); err != nil {
		return cfg, err
	}
	if cfg.NodePortAddresses, cfg.NodePortPrimary, err = model.ParseNodePortAddresses(o.nodePortAddresses); err != nil {
		return cfg, fmt.Errorf("--nodeport-addresses: %w", err)
	}
	if cfg.NodePortRange, err = model.ParsePortRange(o.nodePortRange); err != nil {
		return cfg, fmt.Errorf("--service-node-port-range: %w", err)
	}
	if cfg.ExternalIPCIDRs, err = model.ParseCIDRs(o.externalIPCIDRs); err != nil {
		return cfg, fmt.Errorf("--external-ip-cidrs: %w", err)
	}
	return cfg, nil
}

// client connects to the API server named by --kubeconfig, or to the one
// the pod runs under.
func (o *runOptions) client() (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" || o.kp.master != "" {
		cfg, err = clientcmd.BuildConfigFromFlags(o.kp.master, o.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading the API server configuration (give --kubeconfig outside a cluster): %w", err)
	}
	cfg.UserAgent = "svcproxy"
	cfg.QPS, cfg.Burst, cfg.ContentType = o.kp.apiQPS, int(o.kp.apiBurst), o.kp.apiContentType
	return kubernetes.NewForConfig(cfg)
}

func (o *runOptions) nodeName() (string, error) {
	if o.hostnameOverride != "" {
		return strings.ToLower(strings.TrimSpace(o.hostnameOverride)), nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("finding the node name (give --hostname-override): %w", err)
	}
	return strings.ToLower(h), nil
}
