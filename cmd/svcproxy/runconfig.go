package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// runOptions are the flags of `svcproxy run`. Where a flag means what one
// of kube-proxy's means, it has kube-proxy's name, so migrating a node is a
// matter of swapping the binary.
type runOptions struct {
	kubeconfig         string
	config             string
	proxyMode          string
	hostnameOverride   string
	clusterCIDRs       []string
	masqueradeAll      bool
	masqueradeBit      int
	nodePortAddresses  []string
	localhostNodePorts bool
	healthzBindAddress string
	metricsBindAddress string
	syncPeriod         time.Duration
	minSyncPeriod      time.Duration
	noSanityCheck      bool
	nodePortRange      string
	externalIPCIDRs    []string
	conntrack          conntrackOptions
	loader             loaderFlag
	// kp holds the rest of kube-proxy's command line.
	kp kubeProxyFlags
}

func (o *runOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster configuration)")
	f.StringVar(&o.config, "config", "", "a KubeProxyConfiguration file; flags given on the command line override it")
	f.StringVar(&o.proxyMode, "proxy-mode", "", `"" or iptables (variant detected, kube-proxy's default), auto (nftables where supported, else iptables), nftables, iptables-nft or iptables-legacy`)
	f.StringVar(&o.hostnameOverride, "hostname-override", "", "this node's name (default: the host name)")
	f.StringSliceVar(&o.clusterCIDRs, "cluster-cidr", nil, "pod CIDRs, comma-separated: traffic to cluster IPs from outside them is masqueraded")
	f.BoolVar(&o.masqueradeAll, "masquerade-all", false, "masquerade all traffic to cluster IPs")
	f.IntVar(&o.masqueradeBit, "iptables-masquerade-bit", model.DefaultMasqueradeBit, "fwmark bit (0-31) that marks packets for masquerading, in every mode")
	f.StringSliceVar(&o.nodePortAddresses, "nodeport-addresses", nil, "CIDRs of the node addresses that accept NodePort traffic, or primary for the node's primary address of each family (default: every local address in iptables mode, primary in nftables mode)")
	f.BoolVar(&o.localhostNodePorts, "iptables-localhost-nodeports", true, localhostNodePortsUsage)
	f.StringVar(&o.healthzBindAddress, "healthz-bind-address", "0.0.0.0:10256", `address of /healthz and /livez ("" disables)`)
	f.StringVar(&o.metricsBindAddress, "metrics-bind-address", "127.0.0.1:10249", `address of /metrics ("" disables)`)
	for _, name := range []string{"sync-period", "iptables-sync-period"} {
		f.DurationVar(&o.syncPeriod, name, sync.DefaultSyncPeriod, "the longest time between two syncs; every hour, and after a failure, a sync rewrites the full ruleset")
	}
	for _, name := range []string{"min-sync-period", "iptables-min-sync-period"} {
		f.DurationVar(&o.minSyncPeriod, name, sync.DefaultMinSyncPeriod, "the least time between two syncs; changes meanwhile are batched")
	}
	f.BoolVar(&o.noSanityCheck, "no-sanity-check", false, "allow iptables-nft older than 1.8.4")
	f.StringSliceVar(&o.externalIPCIDRs, "external-ip-cidrs", nil, externalIPCIDRsUsage)
	f.StringVar(&o.nodePortRange, "service-node-port-range", model.DefaultNodePortRange.String(), "the API server's node port range: node ports and health check node ports outside it are skipped")
	o.conntrack.addFlags(f)
	o.loader.addFlag(f)
	o.kp.addFlags(f)
}

// flagAliases are kube-proxy's older names of the same flags.
var flagAliases = map[string]string{
	"sync-period":     "iptables-sync-period",
	"min-sync-period": "iptables-min-sync-period",
}

// supportedConfigFields are the KubeProxyConfiguration fields svcproxy
// reads. Any other field set to something other than its zero value is
// reported, since silently ignoring it could leave a node behaving
// differently from what its configuration says.
var supportedConfigFields = []string{
	"apiVersion", "kind",
	"clientConnection.kubeconfig", "clientConnection.qps", "clientConnection.burst", "clientConnection.contentType",
	"configSyncPeriod", "oomScoreAdj", "enableProfiling",
	"hostnameOverride", "healthzBindAddress", "metricsBindAddress", "mode",
	"clusterCIDR", "nodePortAddresses", "detectLocalMode",
	"detectLocal.bridgeInterface", "detectLocal.interfaceNamePrefix",
	"conntrack.maxPerCore", "conntrack.min", "conntrack.tcpEstablishedTimeout", "conntrack.tcpCloseWaitTimeout",
	"conntrack.tcpBeLiberal", "conntrack.udpTimeout", "conntrack.udpStreamTimeout",
	"iptables.masqueradeAll", "iptables.masqueradeBit", "iptables.localhostNodePorts", "iptables.syncPeriod", "iptables.minSyncPeriod",
	"nftables.masqueradeAll", "nftables.masqueradeBit", "nftables.syncPeriod", "nftables.minSyncPeriod",
}

// loadConfig reads --config into o, leaving alone what was set on the
// command line, and returns the fields it did not use.
func (o *runOptions) loadConfig(f *pflag.FlagSet) ([]string, error) {
	if o.config == "" {
		return nil, nil
	}
	data, err := os.ReadFile(o.config)
	if err != nil {
		return nil, fmt.Errorf("reading --config: %w", err)
	}
	raw, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("reading --config %s: %w", o.config, err)
	}
	var cfg kubeproxy.KubeProxyConfiguration
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("reading --config %s: %w", o.config, err)
	}
	if cfg.Kind != "KubeProxyConfiguration" || !strings.HasPrefix(cfg.APIVersion, "kubeproxy.config.k8s.io/") {
		return nil, fmt.Errorf("reading --config %s: want kind KubeProxyConfiguration of kubeproxy.config.k8s.io, got %q %q", o.config, cfg.APIVersion, cfg.Kind)
	}
	if err := o.applyConfig(&cfg, f.Changed); err != nil {
		return nil, fmt.Errorf("--config %s: %w", o.config, err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, fmt.Errorf("reading --config %s: %w", o.config, err)
	}
	return unsupportedFields("", generic), nil
}

// applyConfig copies the supported fields of cfg into o, except where the
// flag of the same meaning was given.
func (o *runOptions) applyConfig(cfg *kubeproxy.KubeProxyConfiguration, changed func(string) bool) error {
	set := func(flag string, apply func()) {
		if !changed(flag) && !changed(flagAliases[flag]) {
			apply()
		}
	}
	if m := string(cfg.DetectLocalMode); m != "" {
		set("detect-local-mode", func() { o.kp.detectLocalMode = m })
	}
	if b := cfg.DetectLocal.BridgeInterface; b != "" {
		set("pod-bridge-interface", func() { o.kp.podBridge = b })
	}
	if p := cfg.DetectLocal.InterfaceNamePrefix; p != "" {
		set("pod-interface-name-prefix", func() { o.kp.podPrefix = p })
	}
	mode := cfg.Mode
	if mode == "ipvs" || mode == "kernelspace" {
		return fmt.Errorf("mode %q is not supported: use iptables or nftables", mode)
	}
	set("proxy-mode", func() { o.proxyMode = string(mode) })
	o.applyClientConfig(cfg, set)
	if cfg.HostnameOverride != "" {
		set("hostname-override", func() { o.hostnameOverride = cfg.HostnameOverride })
	}
	if cfg.HealthzBindAddress != "" {
		set("healthz-bind-address", func() { o.healthzBindAddress = cfg.HealthzBindAddress })
	}
	if cfg.MetricsBindAddress != "" {
		set("metrics-bind-address", func() { o.metricsBindAddress = cfg.MetricsBindAddress })
	}
	if cfg.ClusterCIDR != "" {
		set("cluster-cidr", func() { o.clusterCIDRs = strings.Split(cfg.ClusterCIDR, ",") })
	}
	if len(cfg.NodePortAddresses) > 0 {
		set("nodeport-addresses", func() { o.nodePortAddresses = cfg.NodePortAddresses })
	}
	o.applyModeConfig(cfg, set)
	o.conntrack.applyConfig(cfg.Conntrack, set)
	return nil
}

// applyClientConfig reads the API client's settings and the other
// process settings kube-proxy's command line also has.
func (o *runOptions) applyClientConfig(cfg *kubeproxy.KubeProxyConfiguration, set func(string, func())) {
	c := cfg.ClientConnection
	if c.Kubeconfig != "" {
		set("kubeconfig", func() { o.kubeconfig = c.Kubeconfig })
	}
	if c.QPS != 0 {
		set("kube-api-qps", func() { o.kp.apiQPS = c.QPS })
	}
	if c.Burst != 0 {
		set("kube-api-burst", func() { o.kp.apiBurst = c.Burst })
	}
	if c.ContentType != "" {
		set("kube-api-content-type", func() { o.kp.apiContentType = c.ContentType })
	}
	if d := cfg.ConfigSyncPeriod.Duration; d > 0 {
		set("config-sync-period", func() { o.kp.configSyncPeriod = d })
	}
	if cfg.EnableProfiling {
		set("profiling", func() { o.kp.profiling = true })
	}
	if adj := cfg.OOMScoreAdj; adj != nil {
		set("oom-score-adj", func() { o.kp.oomScoreAdj = *adj })
	}
}

// applyModeConfig reads the iptables or nftables section, whichever the
// mode uses (iptables for auto, as kube-proxy's default mode).
func (o *runOptions) applyModeConfig(cfg *kubeproxy.KubeProxyConfiguration, set func(string, func())) {
	masqAll, bit, sync, minSync := cfg.IPTables.MasqueradeAll, cfg.IPTables.MasqueradeBit, cfg.IPTables.SyncPeriod, cfg.IPTables.MinSyncPeriod
	if o.proxyMode == "nftables" {
		masqAll, bit, sync, minSync = cfg.NFTables.MasqueradeAll, cfg.NFTables.MasqueradeBit, cfg.NFTables.SyncPeriod, cfg.NFTables.MinSyncPeriod
	}
	if lh := cfg.IPTables.LocalhostNodePorts; lh != nil {
		set("iptables-localhost-nodeports", func() { o.localhostNodePorts = *lh })
	}
	if masqAll {
		set("masquerade-all", func() { o.masqueradeAll = true })
	}
	if bit != nil {
		set("iptables-masquerade-bit", func() { o.masqueradeBit = int(*bit) })
	}
	if sync.Duration > 0 {
		set("sync-period", func() { o.syncPeriod = sync.Duration })
	}
	if minSync.Duration > 0 {
		set("min-sync-period", func() { o.minSyncPeriod = minSync.Duration })
	}
}

// unsupportedFields lists the dotted paths of fields that are set to a
// non-zero value and that svcproxy does not read, sorted.
func unsupportedFields(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if slices.Contains(supportedConfigFields, path) {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			out = append(out, unsupportedFields(path, sub)...)
			continue
		}
		if !zeroJSON(v) && v != configDefaults[path] {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

// configDefaults are kube-proxy's defaults that generated files spell out;
// a field at its default asks for nothing svcproxy would have to do.
var configDefaults = map[string]any{
	"bindAddress": "0.0.0.0",
}

// zeroJSON reports whether a decoded JSON value is the zero value of its
// field, as generated configuration files write them.
func zeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == "" || x == "0s" || x == "0"
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// externalIPCIDRsUsage is --external-ip-cidrs' help, the same in run
// and render.
const externalIPCIDRsUsage = "CIDRs, comma-separated: only external and load balancer IPs in them are honoured, others are skipped with a warning (default: any, as kube-proxy)"
