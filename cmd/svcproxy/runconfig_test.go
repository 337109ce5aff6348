package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/svcproxy/svcproxy/pkg/conntrack"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// kubeadmConfig is shaped like the KubeProxyConfiguration kubeadm writes:
// many fields present with zero values, which must not be reported.
const kubeadmConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 7
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  scheduler: ""
mode: "%s"
nodePortAddresses: null
nftables:
  masqueradeBit: 12
  syncPeriod: 45s
`

type loadConfigCase struct {
	name        string
	config      string
	args        []string
	wantErr     string
	wantIgnored string
	check       func(t *testing.T, o *runOptions)
}

var loadConfigCases = []loadConfigCase{
	{
		name:        "kubeadm file in iptables mode",
		config:      strings.Replace(kubeadmConfig, "%s", "iptables", 1),
		wantIgnored: "",
		check: func(t *testing.T, o *runOptions) {
			if o.kubeconfig != "/var/lib/kube-proxy/kubeconfig.conf" || strings.Join(o.clusterCIDRs, ",") != "10.244.0.0/16" || o.proxyMode != "iptables" {
				t.Errorf("options not read: %+v", o)
			}
			if o.kp.apiQPS != 7 || o.kp.configSyncPeriod != defaultConfigSyncPeriod {
				t.Errorf("client settings: qps %v, config sync period %v; want 7 and the default", o.kp.apiQPS, o.kp.configSyncPeriod)
			}
			if o.masqueradeBit != 14 || o.syncPeriod != 30*time.Second {
				t.Errorf("nftables section applied in iptables mode: bit %d period %v", o.masqueradeBit, o.syncPeriod)
			}
			if !o.localhostNodePorts {
				t.Error("localhostNodePorts: null turned localhost NodePorts off")
			}
			if got := o.conntrack.settings(); got != conntrack.DefaultSettings {
				t.Errorf("conntrack settings %+v, want kube-proxy's defaults for its nulls", got)
			}
		},
	},
	{
		name:   "localhost NodePorts turned off",
		config: strings.Replace(strings.Replace(kubeadmConfig, "%s", "iptables", 1), "localhostNodePorts: null", "localhostNodePorts: false", 1),
		check: func(t *testing.T, o *runOptions) {
			if o.localhostNodePorts {
				t.Error("localhostNodePorts: false not read")
			}
		},
	},
	{
		name:        "nftables mode reads the nftables section",
		config:      strings.Replace(kubeadmConfig, "%s", "nftables", 1),
		wantIgnored: "",
		check: func(t *testing.T, o *runOptions) {
			if o.masqueradeBit != 12 || o.syncPeriod != 45*time.Second {
				t.Errorf("nftables section not applied: bit %d period %v", o.masqueradeBit, o.syncPeriod)
			}
		},
	},
	{
		name:        "flags win over the file",
		config:      strings.Replace(kubeadmConfig, "%s", "nftables", 1),
		args:        []string{"--cluster-cidr", "10.9.0.0/16", "--iptables-sync-period", "5s"},
		wantIgnored: "",
		check: func(t *testing.T, o *runOptions) {
			if strings.Join(o.clusterCIDRs, ",") != "10.9.0.0/16" || o.syncPeriod != 5*time.Second {
				t.Errorf("flags overridden by the file: %v %v", o.clusterCIDRs, o.syncPeriod)
			}
		},
	},
	{
		name: "a conntrack section",
		config: strings.Replace(strings.Replace(kubeadmConfig, "%s", "iptables", 1), "  maxPerCore: null\n",
			"  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n  tcpBeLiberal: true\n  udpStreamTimeout: 2m\n", 1),
		check: func(t *testing.T, o *runOptions) {
			want := conntrack.Settings{Min: 131072, TCPCloseWaitTimeout: time.Hour, TCPBeLiberal: true, UDPStreamTimeout: 2 * time.Minute}
			if got := o.conntrack.settings(); got != want {
				t.Errorf("conntrack settings %+v, want %+v", got, want)
			}
		},
	},
	{name: "ipvs is refused", config: strings.Replace(kubeadmConfig, "%s", "ipvs", 1), wantErr: `mode "ipvs" is not supported`},
	{name: "wrong kind", config: "apiVersion: v1\nkind: ConfigMap\n", wantErr: "want kind KubeProxyConfiguration"},
	{name: "not YAML", config: "mode: [", wantErr: "reading --config"},
}

func TestLoadConfig(t *testing.T) {
	for _, tt := range loadConfigCases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			o := &runOptions{}
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			o.addFlags(fs)
			if err := fs.Parse(append([]string{"--config", path}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			ignored, err := o.loadConfig(fs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ignored, ","); got != tt.wantIgnored {
				t.Errorf("reported fields %q, want %q", got, tt.wantIgnored)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestRunGCPercent(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    int
		wantSet bool
	}{
		{name: "GOGC unset", env: map[string]string{}, want: gcPercent, wantSet: true},
		{name: "GOGC set", env: map[string]string{"GOGC": "200"}, wantSet: false},
		{name: "GOGC set empty", env: map[string]string{"GOGC": ""}, wantSet: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			got, set := runGCPercent(lookup)
			if got != tt.want || set != tt.wantSet {
				t.Errorf("runGCPercent = %d, %v; want %d, %v", got, set, tt.want, tt.wantSet)
			}
		})
	}
}

// TestProxyModeMeansWhatItMeansToKubeProxy checks that an empty mode, on
// the command line or in a KubeProxyConfiguration, asks for iptables, as
// it does of kube-proxy on Linux, and that auto stays svcproxy's choice.
func TestProxyModeMeansWhatItMeansToKubeProxy(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		config string
		want   sync.Request
	}{
		{name: "no flag", want: sync.RequestIPTables},
		{name: "empty flag", args: []string{"--proxy-mode="}, want: sync.RequestIPTables},
		{name: "auto", args: []string{"--proxy-mode=auto"}, want: sync.RequestAuto},
		{name: "nftables", args: []string{"--proxy-mode=nftables"}, want: sync.RequestNFTables},
		{name: "empty mode in the configuration", config: "mode: \"\"\n", want: sync.RequestIPTables},
		{name: "flag over configuration", args: []string{"--proxy-mode=auto"}, config: "mode: nftables\n", want: sync.RequestAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &runOptions{}
			f := pflag.NewFlagSet("run", pflag.ContinueOnError)
			o.addFlags(f)
			args := tt.args
			if tt.config != "" {
				path := filepath.Join(t.TempDir(), "config.yaml")
				text := "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" + tt.config
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config="+path)
			}
			if err := f.Parse(args); err != nil {
				t.Fatal(err)
			}
			if _, err := o.loadConfig(f); err != nil {
				t.Fatal(err)
			}
			got, err := sync.ParseRequest(o.request())
			if err != nil || got != tt.want {
				t.Errorf("mode %q asks for %q (%v), want %q", o.proxyMode, got, err, tt.want)
			}
		})
	}
}

// TestRunExternalIPCIDRs reads --external-ip-cidrs into the model's
// configuration, and refuses one that does not parse.
func TestRunExternalIPCIDRs(t *testing.T) {
	for _, tt := range []struct {
		arg, want, wantErr string
	}{
		{arg: "--external-ip-cidrs=198.51.100.0/24,2001:db8::/64", want: "[198.51.100.0/24 2001:db8::/64]"},
		{arg: "--external-ip-cidrs=", want: "[]"},
		{arg: "--external-ip-cidrs=198.51.100.0/33", wantErr: "--external-ip-cidrs"},
	} {
		o := &runOptions{}
		f := pflag.NewFlagSet("run", pflag.ContinueOnError)
		o.addFlags(f)
		if err := f.Parse([]string{tt.arg}); err != nil {
			t.Fatal(err)
		}
		cfg, err := o.modelConfig()
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one naming %s", tt.arg, err, tt.wantErr)
			}
		case err != nil || fmt.Sprint(cfg.ExternalIPCIDRs) != tt.want:
			t.Errorf("%s: %v, %v; want %s", tt.arg, cfg.ExternalIPCIDRs, err, tt.want)
		}
	}
}
