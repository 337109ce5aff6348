package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// kubeProxyFlags are the flags of kube-proxy's command line beyond the
// proxy's own configuration (runOptions): the API client's, logging, the
// one-shot actions, and those svcproxy accepts without acting on them, so
// that any kube-proxy command line starts svcproxy unchanged.
type kubeProxyFlags struct {
	master           string
	apiQPS           float32
	apiBurst         int32
	apiContentType   string
	configSyncPeriod time.Duration
	detectLocalMode  string
	// podBridge and podPrefix name the pods' interfaces for the
	// BridgeInterface and InterfaceNamePrefix modes.
	podBridge, podPrefix string
	oomScoreAdj          int32
	verbosity            int
	loggingFormat        string
	profiling            bool

	// The one-shot actions: each does its work and exits.
	cleanup       bool
	initOnly      bool
	version       string
	writeConfigTo string
}

// kube-proxy's defaults of the flags svcproxy acts on.
const (
	defaultAPIQPS           = 5
	defaultAPIBurst         = 10
	defaultAPIContentType   = "application/vnd.kubernetes.protobuf"
	defaultConfigSyncPeriod = 15 * time.Minute
	defaultOOMScoreAdj      = -999
)

func (k *kubeProxyFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&k.master, "master", "", "the address of the API server (overrides the kubeconfig's)")
	f.Float32Var(&k.apiQPS, "kube-api-qps", defaultAPIQPS, "QPS to use while talking with the API server")
	f.Int32Var(&k.apiBurst, "kube-api-burst", defaultAPIBurst, "burst to use while talking with the API server")
	f.StringVar(&k.apiContentType, "kube-api-content-type", defaultAPIContentType, "content type of requests sent to the API server")
	f.DurationVar(&k.configSyncPeriod, "config-sync-period", defaultConfigSyncPeriod, "how often the watched objects are listed again from the informers' caches")
	f.StringVar(&k.detectLocalMode, "detect-local-mode", "", detectLocalModeUsage)
	f.StringVar(&k.podBridge, "pod-bridge-interface", "", "with --detect-local-mode BridgeInterface, the bridge the pods are on")
	f.StringVar(&k.podPrefix, "pod-interface-name-prefix", "", "with --detect-local-mode InterfaceNamePrefix, the prefix of the names of the pods' interfaces")
	f.Int32Var(&k.oomScoreAdj, "oom-score-adj", defaultOOMScoreAdj, "the oom_score_adj of the process, -1000 to 1000")
	f.IntVarP(&k.verbosity, "v", "v", 0, "log verbosity: 4 and above log debug messages")
	f.StringVar(&k.loggingFormat, "logging-format", "text", "log format: text or json")
	f.BoolVar(&k.profiling, "profiling", false, "serve Go's profiles on /debug/pprof/ beside /metrics")
	f.BoolVar(&k.cleanup, "cleanup", false, "remove the rules of svcproxy and kube-proxy, in every mode, and exit (as svcproxy cleanup --kube-proxy)")
	f.BoolVar(&k.initOnly, "init-only", false, "apply the conntrack settings and route_localnet, which need full root privileges, and exit; run then needs only NET_ADMIN and NET_RAW")
	f.StringVar(&k.version, "version", "", "print the version and exit")
	f.Lookup("version").NoOptDefVal = "true"
	f.StringVar(&k.writeConfigTo, "write-config-to", "", "write the configuration in effect as a KubeProxyConfiguration to this file and exit")
	notApplied(f)
}

// kube-proxy's --detect-local-mode values.
const (
	detectClusterCIDR         = "ClusterCIDR"
	detectNodeCIDR            = "NodeCIDR"
	detectBridgeInterface     = "BridgeInterface"
	detectInterfaceNamePrefix = "InterfaceNamePrefix"
)

// detectLocalModes are the modes svcproxy takes: all of kube-proxy's.
var detectLocalModes = []string{detectClusterCIDR, detectNodeCIDR, detectBridgeInterface, detectInterfaceNamePrefix}

// detectLocalModeUsage describes --detect-local-mode, the same in run
// and render.
const detectLocalModeUsage = "how pod traffic is told from the rest: ClusterCIDR (by --cluster-cidr, the default), NodeCIDR (by the Node's spec.podCIDRs, this node's pods only), BridgeInterface or InterfaceNamePrefix (by the interface it comes in on)"

// validate checks the values svcproxy acts on.
func (k *kubeProxyFlags) validate() error {
	switch {
	case k.detectLocalMode != "" && !slices.Contains(detectLocalModes, k.detectLocalMode):
		return fmt.Errorf("--detect-local-mode %q: want one of %s", k.detectLocalMode, strings.Join(detectLocalModes, ", "))
	case k.loggingFormat != "text" && k.loggingFormat != "json":
		return fmt.Errorf("--logging-format %q: want text or json", k.loggingFormat)
	case k.oomScoreAdj < -1000 || k.oomScoreAdj > 1000:
		return fmt.Errorf("--oom-score-adj %d: want -1000 to 1000", k.oomScoreAdj)
	case k.configSyncPeriod < 0:
		return fmt.Errorf("--config-sync-period %v: want 0 or more", k.configSyncPeriod)
	}
	_, _, err := podInterface(k.detectLocalMode, k.podBridge, k.podPrefix)
	return err
}

// podInterface returns the pods' interface that a detect-local mode
// tells pod traffic by, and whether it is a prefix; "" for the modes that
// tell it by source address.
func podInterface(mode, bridge, prefix string) (string, bool, error) {
	var name, flag string
	switch mode {
	case detectBridgeInterface:
		name, flag = bridge, "--pod-bridge-interface"
	case detectInterfaceNamePrefix:
		name, flag = prefix, "--pod-interface-name-prefix"
	default:
		return "", false, nil
	}
	if _, err := model.ParseInterfaceName(name); err != nil {
		return "", false, fmt.Errorf("--detect-local-mode %s: %s: %w", mode, flag, err)
	}
	return name, mode == detectInterfaceNamePrefix, nil
}

// logger returns the logger --logging-format and -v ask for.
func (k *kubeProxyFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{}
	if k.verbosity >= 4 {
		opts.Level = slog.LevelDebug
	}
	if k.loggingFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// applyOOMScoreAdj sets the process's oom_score_adj, as kube-proxy does at
// start, so that the kernel kills other processes before the proxy. A
// container without CAP_SYS_RESOURCE may not lower it; that is logged,
// not fatal, as with kube-proxy.
func (k *kubeProxyFlags) applyOOMScoreAdj(log *slog.Logger) {
	err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(int(k.oomScoreAdj))), 0)
	if err != nil {
		log.Info("could not set the OOM score adjustment", "oomScoreAdj", k.oomScoreAdj, "err", err)
	}
}

// notAppliedUsage starts the usage of every flag svcproxy accepts from
// kube-proxy's command line without acting on it; the reason follows.
const notAppliedUsage = "kube-proxy's; not applied: "

// notApplied registers kube-proxy's flags that have no effect in
// svcproxy, each with kube-proxy's type and default, so that its values
// parse as they do for kube-proxy, and with why it has no effect.
func notApplied(f *pflag.FlagSet) {
	why := func(reason string) string { return notAppliedUsage + reason }
	node := why("svcproxy takes the node's addresses from its Node object and binds nothing to this address")
	f.String("bind-address", "0.0.0.0", node)
	f.Bool("bind-address-hard-fail", false, node)
	ipvs := why("svcproxy has no ipvs mode")
	f.StringSlice("ipvs-exclude-cidrs", nil, ipvs)
	f.Duration("ipvs-min-sync-period", 0, ipvs)
	f.String("ipvs-scheduler", "", ipvs)
	f.Bool("ipvs-strict-arp", false, ipvs)
	f.Duration("ipvs-sync-period", 30*time.Second, ipvs)
	f.Duration("ipvs-tcp-timeout", 0, ipvs)
	f.Duration("ipvs-tcpfin-timeout", 0, ipvs)
	f.Duration("ipvs-udp-timeout", 0, ipvs)
	f.String("feature-gates", "", why("svcproxy has no feature gates"))
	f.String("show-hidden-metrics-for-version", "", why("svcproxy hides no metrics"))
	logs := why("svcproxy logs through log/slog: only --logging-format and -v apply")
	f.String("vmodule", "", logs)
	f.Duration("log-flush-frequency", 5*time.Second, logs)
	f.String("log-json-info-buffer-size", "0", logs)
	f.Bool("log-json-split-stream", false, logs)
	f.String("log-text-info-buffer-size", "0", logs)
	f.Bool("log-text-split-stream", false, logs)
}

// reportNotApplied logs each flag of notApplied that the command line
// gives, once, with why it has no effect.
func reportNotApplied(f *pflag.FlagSet, log *slog.Logger) {
	f.Visit(func(fl *pflag.Flag) {
		if reason, ok := strings.CutPrefix(fl.Usage, notAppliedUsage); ok {
			log.Warn("kube-proxy flag accepted but not applied", "flag", "--"+fl.Name, "reason", reason)
		}
	})
}
