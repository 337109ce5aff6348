package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/pkg/conntrack"
)

// helpFlag matches a flag line of kube-proxy --help: "  -v, --v Level"
// or "      --cleanup".
var helpFlag = regexp.MustCompile(`^\s+(?:-([a-zA-Z]), )?--([a-z0-9-]+)`)

// TestRunAcceptsEveryKubeProxyFlag runs the kube-proxy built from
// test/tools with --help and checks that svcproxy run defines every flag
// it lists, with the same shorthand: any kube-proxy command line must
// start svcproxy.
func TestRunAcceptsEveryKubeProxyFlag(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs the kube-proxy binary built from test/tools, which the root-only tests build (run as root, as CI does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bins, err := kubeapi.Build(ctx, t.Logf, kubeapi.KubeProxy)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins[kubeapi.KubeProxy], "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("kube-proxy --help: %v\n%s", err, out)
	}
	f := pflag.NewFlagSet("run", pflag.ContinueOnError)
	(&runOptions{}).addFlags(f)
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := helpFlag.FindStringSubmatch(line)
		if m == nil || m[2] == "help" {
			continue
		}
		seen++
		fl := f.Lookup(m[2])
		switch {
		case fl == nil:
			t.Errorf("kube-proxy's --%s is not a flag of svcproxy run", m[2])
		case fl.Shorthand != m[1]:
			t.Errorf("--%s: shorthand %q, kube-proxy's is %q", m[2], fl.Shorthand, m[1])
		}
	}
	if seen < 40 {
		t.Fatalf("read only %d flags from kube-proxy --help:\n%s", seen, out)
	}
}

// TestRunParsesKubeProxyCommandLines parses command lines as kube-proxy
// deployments write them, and checks what is read and what is reported
// as not applied.
func TestRunParsesKubeProxyCommandLines(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		check      func(o *runOptions) bool
		notApplied []string
	}{
		{name: "kubeadm's DaemonSet",
			args:  []string{"--config=/var/lib/kube-proxy/config.conf", "--hostname-override=node-a"},
			check: func(o *runOptions) bool { return o.config != "" && o.hostnameOverride == "node-a" }},
		{name: "client and logging settings",
			args: []string{"--master=https://192.168.0.1:6443", "--kube-api-qps=20", "--kube-api-burst=30",
				"--kube-api-content-type=application/json", "-v", "4", "--logging-format=json", "--oom-score-adj=-998",
				"--config-sync-period=1m", "--profiling"},
			check: func(o *runOptions) bool {
				k := o.kp
				return k.master == "https://192.168.0.1:6443" && k.apiQPS == 20 && k.apiBurst == 30 &&
					k.apiContentType == "application/json" && k.verbosity == 4 && k.loggingFormat == "json" &&
					k.oomScoreAdj == -998 && k.configSyncPeriod == time.Minute && k.profiling
			}},
		{name: "settings svcproxy does not apply",
			args:       []string{"--feature-gates=A=true,B=false", "--ipvs-scheduler=rr", "--bind-address=192.168.0.10"},
			check:      func(o *runOptions) bool { return true },
			notApplied: []string{"--feature-gates", "--ipvs-scheduler", "--bind-address"}},
		{name: "conntrack settings",
			args: []string{"--conntrack-max-per-core=0", "--conntrack-min=1000", "--conntrack-tcp-be-liberal",
				"--conntrack-tcp-timeout-established=2h", "--conntrack-tcp-timeout-close-wait=10m",
				"--conntrack-udp-timeout=30s", "--conntrack-udp-timeout-stream=2m"},
			check: func(o *runOptions) bool {
				return o.conntrack.settings() == conntrack.Settings{Min: 1000, TCPBeLiberal: true,
					TCPEstablishedTimeout: 2 * time.Hour, TCPCloseWaitTimeout: 10 * time.Minute,
					UDPTimeout: 30 * time.Second, UDPStreamTimeout: 2 * time.Minute}
			}},
		{name: "pods told by their interfaces",
			args: []string{"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=veth"},
			check: func(o *runOptions) bool {
				name, prefix, err := podInterface(o.kp.detectLocalMode, o.kp.podBridge, o.kp.podPrefix)
				return name == "veth" && prefix && err == nil
			}},
		{name: "localhost NodePorts",
			args:  []string{"--iptables-localhost-nodeports=false"},
			check: func(o *runOptions) bool { return !o.localhostNodePorts }},
		{name: "defaults are kube-proxy's",
			check: func(o *runOptions) bool {
				k := o.kp
				return k.apiQPS == 5 && k.apiBurst == 10 && k.apiContentType == "application/vnd.kubernetes.protobuf" &&
					k.oomScoreAdj == -999 && k.configSyncPeriod == 15*time.Minute && k.loggingFormat == "text" &&
					o.localhostNodePorts && o.conntrack.settings() == conntrack.DefaultSettings
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &runOptions{}
			f := pflag.NewFlagSet("run", pflag.ContinueOnError)
			o.addFlags(f)
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := o.kp.validate(); err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options read from %q: %+v", tt.args, o.kp)
			}
			var log bytes.Buffer
			reportNotApplied(f, slog.New(slog.NewTextHandler(&log, nil)))
			if got := strings.Count(log.String(), "not applied"); got != len(tt.notApplied) {
				t.Errorf("%d flags reported, want %d:\n%s", got, len(tt.notApplied), log.String())
			}
			for _, name := range tt.notApplied {
				if !strings.Contains(log.String(), "flag="+name+" ") {
					t.Errorf("%s not reported:\n%s", name, log.String())
				}
			}
		})
	}
}

func TestRunRefusesWhatItCannotDo(t *testing.T) {
	for _, args := range [][]string{
		{"--detect-local-mode=BridgeInterface"}, {"--detect-local-mode=InterfaceNamePrefix"}, {"--detect-local-mode=nodecidr"},
		{"--detect-local-mode=BridgeInterface", `--pod-bridge-interface=cbr0" accept #`},
		{"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=a-name-far-too-long"},
		{"--logging-format=yaml"}, {"--oom-score-adj=-1001"},
	} {
		o := &runOptions{}
		f := pflag.NewFlagSet("run", pflag.ContinueOnError)
		o.addFlags(f)
		if err := f.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := o.kp.validate(); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestWriteConfigReadsBack writes the configuration of a command line
// with --write-config-to and reads it back with --config: the options
// must come back the same, so the file describes what ran.
func TestWriteConfigReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	args := []string{"--kubeconfig=/etc/kubernetes/proxy.conf", "--hostname-override=node-a", "--proxy-mode=nftables",
		"--cluster-cidr=10.1.0.0/16,fd00:1::/64", "--nodeport-addresses=192.168.0.0/24", "--masquerade-all",
		"--iptables-masquerade-bit=12", "--sync-period=45s", "--min-sync-period=2s", "--kube-api-qps=20",
		"--kube-api-burst=40", "--config-sync-period=5m", "--oom-score-adj=-500", "--iptables-localhost-nodeports=false",
		"--conntrack-max-per-core=0", "--conntrack-tcp-be-liberal", "--conntrack-udp-timeout=30s", "--conntrack-tcp-timeout-close-wait=0",
		"--detect-local-mode=NodeCIDR", "--profiling"}
	written := &runOptions{}
	f := pflag.NewFlagSet("run", pflag.ContinueOnError)
	written.addFlags(f)
	if err := f.Parse(append(args, "--write-config-to="+path)); err != nil {
		t.Fatal(err)
	}
	if done, err := written.oneShot(context.Background(), &bytes.Buffer{}); !done || err != nil {
		t.Fatalf("--write-config-to: done %v, %v", done, err)
	}
	read := &runOptions{}
	g := pflag.NewFlagSet("run", pflag.ContinueOnError)
	read.addFlags(g)
	if err := g.Parse([]string{"--config=" + path}); err != nil {
		t.Fatal(err)
	}
	ignored, err := read.loadConfig(g)
	if err != nil || len(ignored) > 0 {
		t.Fatalf("reading it back: %v, fields ignored %v", err, ignored)
	}
	if got, want := read.kubeProxyConfiguration(), written.kubeProxyConfiguration(); !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v\nwant %+v", got, want)
	}
}
