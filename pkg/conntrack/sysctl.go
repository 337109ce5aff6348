package conntrack

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/svcproxy/svcproxy/internal/sysctl"
)

// Sysctls reads and sets the sysctls of the node's network namespace.
type Sysctls interface {
	Get(name string) (int, bool, error)
	Ensure(name string, value int) (bool, error)
}

var _ Sysctls = (*sysctl.Sysctls)(nil)

// The conntrack sysctls kube-proxy sets.
const (
	sysctlMax            = "net/netfilter/nf_conntrack_max"
	sysctlTCPEstablished = "net/netfilter/nf_conntrack_tcp_timeout_established"
	sysctlTCPCloseWait   = "net/netfilter/nf_conntrack_tcp_timeout_close_wait"
	sysctlTCPBeLiberal   = "net/netfilter/nf_conntrack_tcp_be_liberal"
	sysctlUDP            = "net/netfilter/nf_conntrack_udp_timeout"
	sysctlUDPStream      = "net/netfilter/nf_conntrack_udp_timeout_stream"
)

// TCPBeLiberal reports whether the node's conntrack is liberal: it then
// marks only out-of-window TCP resets INVALID. A kernel without the
// conntrack module loaded has no such sysctl, and is not.
func TCPBeLiberal(sys Sysctls) (bool, error) {
	v, _, err := sys.Get(sysctlTCPBeLiberal)
	return v != 0, err
}

// Settings are kube-proxy's conntrack settings (its --conntrack-* flags,
// the conntrack section of its configuration file), which it applies
// to the node when it starts. Zero values leave the node's own.
type Settings struct {
	// MaxPerCore, times the number of CPUs, is nf_conntrack_max, but no
	// less than Min and no more than 2^20.
	MaxPerCore, Min int
	// The timeouts are set in whole seconds.
	TCPEstablishedTimeout, TCPCloseWaitTimeout time.Duration
	UDPTimeout, UDPStreamTimeout               time.Duration
	// TCPBeLiberal sets nf_conntrack_tcp_be_liberal; false leaves it.
	TCPBeLiberal bool
}

// DefaultSettings are kube-proxy's defaults.
var DefaultSettings = Settings{
	MaxPerCore: 32768, Min: 131072,
	TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour,
}

// maxConntrackMax caps a nf_conntrack_max scaled by CPUs, as kube-proxy
// caps it, so a many-core machine does not reserve memory for millions of
// entries.
const maxConntrackMax = 1 << 20

// Max returns the nf_conntrack_max the settings ask for on a machine with
// numCPU CPUs, 0 when they leave it alone.
func (s Settings) Max(numCPU int) int {
	if s.MaxPerCore <= 0 {
		return 0
	}
	return min(max(s.MaxPerCore*numCPU, s.Min), maxConntrackMax)
}

// Sysctl is one sysctl and its value.
type Sysctl struct {
	Name  string
	Value int
}

// Sysctls returns the sysctls the settings set on a machine with numCPU
// CPUs, in kube-proxy's order.
func (s Settings) Sysctls(numCPU int) []Sysctl {
	var out []Sysctl
	add := func(name string, v int) {
		if v > 0 {
			out = append(out, Sysctl{name, v})
		}
	}
	add(sysctlMax, s.Max(numCPU))
	add(sysctlTCPEstablished, int(s.TCPEstablishedTimeout/time.Second))
	add(sysctlTCPCloseWait, int(s.TCPCloseWaitTimeout/time.Second))
	if s.TCPBeLiberal {
		add(sysctlTCPBeLiberal, 1)
	}
	add(sysctlUDP, int(s.UDPTimeout/time.Second))
	add(sysctlUDPStream, int(s.UDPStreamTimeout/time.Second))
	return out
}

// hashsizeParam is the conntrack module's hash table size: a
// module parameter, for the whole machine, not a sysctl.
const hashsizeParam = "/sys/module/nf_conntrack/parameters/hashsize"

// Setter applies Settings to the node.
type Setter struct {
	Sysctls Sysctls
	// Hashsize is the path of the conntrack hash table size, which grows
	// to a quarter of nf_conntrack_max as kube-proxy grows it; empty is
	// the kernel's.
	Hashsize string
	// NumCPU counts the machine's CPUs; nil counts the online ones.
	NumCPU func() int
}

// Apply sets what s asks for that the node does not have yet, and
// returns what it changed, one "name=value" each. Like kube-proxy, it
// stops at the first sysctl it cannot set: on a node where svcproxy may
// not (nf_conntrack_max is read-only outside the host's network
// namespace), the settings must say to leave it.
func (st Setter) Apply(s Settings) ([]string, error) {
	numCPU := st.NumCPU
	if numCPU == nil {
		numCPU = onlineCPUs
	}
	var changed []string
	for _, sc := range s.Sysctls(numCPU()) {
		wrote, err := st.Sysctls.Ensure(sc.Name, sc.Value)
		if err != nil {
			return changed, fmt.Errorf("applying the conntrack settings: %w", err)
		}
		if wrote {
			changed = append(changed, fmt.Sprintf("%s=%d", sc.Name, sc.Value))
		}
		if sc.Name != sysctlMax {
			continue
		}
		grown, err := st.growHashsize(sc.Value / 4)
		if err != nil {
			return changed, fmt.Errorf("applying the conntrack settings: %w", err)
		}
		if grown {
			changed = append(changed, fmt.Sprintf("%s=%d", hashsizeParam, sc.Value/4))
		}
	}
	return changed, nil
}

// growHashsize raises the conntrack hash table size to at least want.
func (st Setter) growHashsize(want int) (bool, error) {
	path := st.Hashsize
	if path == "" {
		path = hashsizeParam
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading the conntrack hash size: %w", err)
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false, fmt.Errorf("reading the conntrack hash size %s: %w", path, err)
	}
	if cur >= want {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(want)), 0o640); err != nil {
		return false, fmt.Errorf("setting the conntrack hash size: %w", err)
	}
	return true, nil
}

// onlineCPUs counts the machine's online CPUs, as kube-proxy does, from
// sysfs rather than the process's CPU affinity, which a CPU manager may
// have narrowed; if sysfs cannot tell, it falls back to the affinity.
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err == nil {
		if n := countCPUList(strings.TrimSpace(string(b))); n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// countCPUList counts the CPUs of a kernel CPU list such as "0-3,8,10-11",
// 0 if it cannot be read.
func countCPUList(list string) int {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || b < a {
			return 0
		}
		n += b - a + 1
	}
	return n
}
