package main

import (
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/utils/ptr"

	"github.com/svcproxy/svcproxy/pkg/conntrack"
)

// conntrackOptions are kube-proxy's conntrack settings, which run applies
// to the node when it starts, as kube-proxy does.
type conntrackOptions struct {
	maxPerCore, min                              int32
	tcpEstablished, tcpCloseWait, udp, udpStream time.Duration
	tcpBeLiberal                                 bool
}

func (c *conntrackOptions) addFlags(f *pflag.FlagSet) {
	d := conntrack.DefaultSettings
	f.Int32Var(&c.maxPerCore, "conntrack-max-per-core", int32(d.MaxPerCore), "nf_conntrack_max per CPU (0 leaves nf_conntrack_max as it is, and --conntrack-min too)")
	f.Int32Var(&c.min, "conntrack-min", int32(d.Min), "the least nf_conntrack_max, whatever --conntrack-max-per-core gives")
	f.DurationVar(&c.tcpEstablished, "conntrack-tcp-timeout-established", d.TCPEstablishedTimeout, "conntrack's timeout of an idle established TCP connection (0 leaves it as it is)")
	f.DurationVar(&c.tcpCloseWait, "conntrack-tcp-timeout-close-wait", d.TCPCloseWaitTimeout, "conntrack's timeout of a TCP connection in CLOSE_WAIT (0 leaves it as it is)")
	f.BoolVar(&c.tcpBeLiberal, "conntrack-tcp-be-liberal", false, "set nf_conntrack_tcp_be_liberal: conntrack marks only out-of-window resets INVALID")
	f.DurationVar(&c.udp, "conntrack-udp-timeout", 0, "conntrack's timeout of an unreplied UDP flow (0 leaves it as it is)")
	f.DurationVar(&c.udpStream, "conntrack-udp-timeout-stream", 0, "conntrack's timeout of an assured UDP flow (0 leaves it as it is)")
}

// applyConfig reads the configuration file's conntrack section where its
// fields are set and the command line did not set the flag.
func (c *conntrackOptions) applyConfig(cfg kubeproxy.KubeProxyConntrackConfiguration, set func(string, func())) {
	if v := cfg.MaxPerCore; v != nil {
		set("conntrack-max-per-core", func() { c.maxPerCore = *v })
	}
	if v := cfg.Min; v != nil {
		set("conntrack-min", func() { c.min = *v })
	}
	if v := cfg.TCPEstablishedTimeout; v != nil {
		set("conntrack-tcp-timeout-established", func() { c.tcpEstablished = v.Duration })
	}
	if v := cfg.TCPCloseWaitTimeout; v != nil {
		set("conntrack-tcp-timeout-close-wait", func() { c.tcpCloseWait = v.Duration })
	}
	if cfg.TCPBeLiberal {
		set("conntrack-tcp-be-liberal", func() { c.tcpBeLiberal = true })
	}
	if v := cfg.UDPTimeout.Duration; v > 0 {
		set("conntrack-udp-timeout", func() { c.udp = v })
	}
	if v := cfg.UDPStreamTimeout.Duration; v > 0 {
		set("conntrack-udp-timeout-stream", func() { c.udpStream = v })
	}
}

// settings returns the settings to apply.
func (c *conntrackOptions) settings() conntrack.Settings {
	return conntrack.Settings{
		MaxPerCore: int(c.maxPerCore), Min: int(c.min),
		TCPEstablishedTimeout: c.tcpEstablished, TCPCloseWaitTimeout: c.tcpCloseWait,
		UDPTimeout: c.udp, UDPStreamTimeout: c.udpStream, TCPBeLiberal: c.tcpBeLiberal,
	}
}

// config returns the settings as a configuration file's section.
func (c *conntrackOptions) config() kubeproxy.KubeProxyConntrackConfiguration {
	return kubeproxy.KubeProxyConntrackConfiguration{
		MaxPerCore: ptr.To(c.maxPerCore), Min: ptr.To(c.min),
		TCPEstablishedTimeout: &metav1.Duration{Duration: c.tcpEstablished},
		TCPCloseWaitTimeout:   &metav1.Duration{Duration: c.tcpCloseWait},
		TCPBeLiberal:          c.tcpBeLiberal,
		UDPTimeout:            metav1.Duration{Duration: c.udp}, UDPStreamTimeout: metav1.Duration{Duration: c.udpStream},
	}
}
