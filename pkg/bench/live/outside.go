package live

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/nsexec"
)

// The proxy's namespace answers for every endpoint, so that what the
// proxy did can be seen from outside it: traffic to a cluster IP answered
// once the rules are in the kernel. Every pod address (10.0.0.0/8, the
// changed endpoints' 10.255.0.0/16 included) and every cluster IP is
// made local, and one listener on the target port answers with the
// address the connection reached: after DNAT, the endpoint that was
// chosen. Before the rules are in, a connection to a cluster IP's port
// finds nothing listening and is refused at once.
var localRanges = []string{"10.0.0.0/8", serviceCIDR}

// answerTimeout bounds one probe connection and its answer.
const answerTimeout = 200 * time.Millisecond

// probeInterval is the pause between two probes: short against the
// latencies measured, long enough not to take a core from the proxy.
const probeInterval = time.Millisecond

// answerer is the namespace's endpoint listener and a dialer from inside
// the namespace.
type answerer struct {
	ln   net.Listener
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// newAnswerer makes the ranges local to ns and starts answering there.
func newAnswerer(ns *netns.NS) (*answerer, error) {
	cmds := [][]string{{"ip", "link", "set", "lo", "up"}, {"ip", "addr", "add", NodeIP.String() + "/32", "dev", "lo"}}
	for _, r := range localRanges {
		cmds = append(cmds, []string{"ip", "route", "add", "local", r, "dev", "lo"})
	}
	for _, c := range cmds {
		if out, err := ns.Run(nil, c[0], c[1:]...); err != nil {
			return nil, fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	a := &answerer{}
	err := nsexec.Do("/run/netns/"+ns.Name, func() error {
		var err error
		a.ln, err = net.Listen("tcp4", ":"+strconv.Itoa(targetPort))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening for the endpoints: %w", err)
	}
	if a.dial, err = kubeapi.Dialer(ns); err != nil {
		a.ln.Close()
		return nil, err
	}
	go a.serve()
	return a, nil
}

// targetPort is the synthetic cluster's endpoint port.
const targetPort = 8080

func (a *answerer) serve() {
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		addr := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().As4()
		_, _ = c.Write(addr[:])
		c.Close()
	}
}

func (a *answerer) Close() error { return a.ln.Close() }

// answer connects to dst once and returns the endpoint that answered.
func (a *answerer) answer(ctx context.Context, dst netip.AddrPort) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	c, err := a.dial(ctx, "tcp4", dst.String())
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(answerTimeout))
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4(b), nil
}

// waitAnswered probes dst until an endpoint that want accepts answers,
// and returns when that was; it gives up at deadline.
func (a *answerer) waitAnswered(ctx context.Context, dst netip.AddrPort, want func(netip.Addr) bool, deadline time.Time) (time.Time, error) {
	for {
		got, err := a.answer(ctx, dst)
		if err == nil && want(got) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no answer from %s by the endpoint wanted (last: %v, %v)", dst, got, err)
		}
		if err := sleep(ctx, probeInterval); err != nil {
			return time.Time{}, err
		}
	}
}

func anyEndpoint(netip.Addr) bool { return true }

// treeMemory samples the memory of a process and of everything it runs
// (nft, iptables-restore), and keeps the largest sum seen: each sample
// adds the process's RSS to its descendants' peaks.
type treeMemory struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak uint64
}

// treeSampleInterval is how often the tree is sampled: tools that run
// for less than this may be missed.
const treeSampleInterval = 10 * time.Millisecond

func sampleTree(pid int) *treeMemory {
	t := &treeMemory{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(treeSampleInterval)
		defer tick.Stop()
		for {
			// The root's name is read at every sample: the process
			// starts as ip netns exec and becomes the proxy, and read
			// once too early, the proxy's own vfork children would
			// count its memory twice.
			if sum := treeSum(pid, statusField(pid, "Name:"), true); sum > 0 {
				t.mu.Lock()
				t.peak = max(t.peak, sum)
				t.mu.Unlock()
			}
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

// Peak stops the sampling and returns the largest sum in bytes.
func (t *treeMemory) Peak() uint64 {
	close(t.stop)
	<-t.done
	return t.peak
}

// treeSum returns pid's RSS (its peak, unless root) plus its
// descendants' peaks. A child still named as the root has not exec'd its
// tool yet: until then it shares the proxy's memory (Go starts commands
// with vfork), which would count the proxy twice, so it is skipped.
func treeSum(pid int, rootName string, root bool) uint64 {
	field := "VmHWM:"
	if root {
		field = "VmRSS:"
	}
	sum := statusKB(pid, field)
	for _, child := range children(pid) {
		if statusField(child, "Name:") != rootName {
			sum += treeSum(child, rootName, false)
		}
	}
	return sum
}

// statusKB returns a memory field of /proc/PID/status in bytes.
func statusKB(pid int, field string) uint64 {
	kb, _ := strconv.ParseUint(strings.TrimSuffix(statusField(pid, field), " kB"), 10, 64)
	return kb * 1024
}

// statusField returns a field of /proc/PID/status, "" when unknown.
func statusField(pid int, field string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// children lists the processes any thread of pid started.
func children(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
