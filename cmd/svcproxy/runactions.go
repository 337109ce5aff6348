package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

// oneShot runs the action kube-proxy's --version, --write-config-to or
// --cleanup asks for, and reports whether one did: the process then
// exits instead of running the proxy. (--init-only is run's: it stops
// after the node's initialization.)
func (o *runOptions) oneShot(ctx context.Context, out io.Writer) (bool, error) {
	switch {
	case o.kp.version != "":
		fmt.Fprintln(out, "svcproxy", buildVersion())
	case o.kp.writeConfigTo != "":
		return true, o.writeConfig(o.kp.writeConfigTo)
	case o.kp.cleanup:
		report, err := (&sync.Cleanup{Runner: sync.ExecRunner{}, KubeProxy: true, Tables: &sync.KernelNetlink{}}).Run(ctx)
		for _, line := range report {
			fmt.Fprintln(out, line)
		}
		if err != nil {
			return true, fmt.Errorf("--cleanup: %w", err)
		}
	default:
		return false, nil
	}
	return true, nil
}

// buildVersion returns the module version the binary was built from, or
// its VCS revision for a build from a checkout.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return info.Main.Version + " " + s.Value
		}
	}
	return info.Main.Version
}

// kubeProxyConfiguration returns the configuration in effect as the
// KubeProxyConfiguration that would give it, with kube-proxy's defaults
// for what svcproxy does not read.
func (o *runOptions) kubeProxyConfiguration() *kubeproxy.KubeProxyConfiguration {
	bit := ptr.To(int32(o.masqueradeBit))
	sync, minSync := metav1.Duration{Duration: o.syncPeriod}, metav1.Duration{Duration: o.minSyncPeriod}
	cfg := &kubeproxy.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: kubeproxy.SchemeGroupVersion.String(), Kind: "KubeProxyConfiguration"},
		HostnameOverride:   o.hostnameOverride,
		BindAddress:        "0.0.0.0",
		HealthzBindAddress: o.healthzBindAddress,
		MetricsBindAddress: o.metricsBindAddress,
		Mode:               kubeproxy.ProxyMode(o.proxyMode),
		DetectLocalMode:    kubeproxy.LocalMode(cmp.Or(o.kp.detectLocalMode, detectClusterCIDR)),
		DetectLocal:        kubeproxy.DetectLocalConfiguration{BridgeInterface: o.kp.podBridge, InterfaceNamePrefix: o.kp.podPrefix},
		ClusterCIDR:        strings.Join(o.clusterCIDRs, ","),
		NodePortAddresses:  o.nodePortAddresses,
		OOMScoreAdj:        ptr.To(o.kp.oomScoreAdj),
		EnableProfiling:    o.kp.profiling,
		ConfigSyncPeriod:   metav1.Duration{Duration: o.kp.configSyncPeriod},
		Conntrack:          o.conntrack.config(),
		IPTables:           kubeproxy.KubeProxyIPTablesConfiguration{MasqueradeBit: bit, MasqueradeAll: o.masqueradeAll, SyncPeriod: sync, MinSyncPeriod: minSync, LocalhostNodePorts: ptr.To(o.localhostNodePorts)},
		NFTables:           kubeproxy.KubeProxyNFTablesConfiguration{MasqueradeBit: bit, MasqueradeAll: o.masqueradeAll, SyncPeriod: sync, MinSyncPeriod: minSync},
	}
	cfg.ClientConnection.Kubeconfig = o.kubeconfig
	cfg.ClientConnection.QPS = o.kp.apiQPS
	cfg.ClientConnection.Burst = o.kp.apiBurst
	cfg.ClientConnection.ContentType = o.kp.apiContentType
	return cfg
}

// writeConfig writes kubeProxyConfiguration to path as YAML, which
// --config reads back to the same configuration.
func (o *runOptions) writeConfig(path string) error {
	data, err := yaml.Marshal(o.kubeProxyConfiguration())
	if err != nil {
		return fmt.Errorf("--write-config-to: encoding the configuration: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("--write-config-to: %w", err)
	}
	return nil
}
