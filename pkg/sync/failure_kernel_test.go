package sync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/internal/testnet"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
)

// TestRejectedPayloadKeepsRules applies a good state, then a payload the
// kernel tools reject: the error names the problem, and the previous
// rules stay in place with traffic still flowing.
func TestRejectedPayloadKeepsRules(t *testing.T) {
	for _, mode := range trafficModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newTrafficEnv(t, mode)
			e.apply(t, trafficServices)
			e.checkRejectionKeeps(t, func() error { return applyBroken(t, e, mode) })
		})
	}
}

// checkRejectionKeeps runs apply, which must fail, and checks that the
// rules are as they were and that t/web still reaches its endpoints.
func (e *trafficEnv) checkRejectionKeeps(t *testing.T, apply func() error) {
	t.Helper()
	before := dumpRules(t, e.topo.Node, e.mode)
	err := apply()
	if err == nil {
		t.Fatal("a broken payload was accepted")
	}
	t.Logf("rejected as expected: %v", err)
	if after := dumpRules(t, e.topo.Node, e.mode); after != before {
		t.Errorf("rules changed although the payload was rejected:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	counts := ask(t, e.pod("pod-z"), testnet.TCP, netip.Addr{}, "172.30.0.10:80", 30)
	if !sameAddrs(endpointsOf(counts), podA, podB, podC) {
		t.Errorf("after the rejected payload, connections reached %v", counts)
	}
}

// applyBroken applies the traffic state through the real applier, with
// one rule the kernel tools refuse added to what it sends: a jump to a
// chain that does not exist.
func applyBroken(t *testing.T, e *trafficEnv, mode Mode) error {
	t.Helper()
	m := trafficModel(t, trafficServices)
	r := &breakingRunner{Runner: ExecRunner{Prefix: e.topo.Node.Prefix()}, on: true}
	_, err := newApplier(r, mode, model.IPv4, nil, nil).Apply(context.Background(), m, false)
	var rej *RejectedError
	if mode != ModeNFTables && err != nil && !errors.As(err, &rej) {
		t.Errorf("error %v does not say which line was rejected", err)
	}
	return err
}

// TestRejectedNATTableKeepsFilterTable loads a state whose filter table
// differs from the one in place (a Service that lost its endpoints gets
// a REJECT there) and whose nat table the tools reject. The tools commit
// table by table, so the new filter table would be in force with the old
// nat table; the applier must put it back, in full and incremental
// applies alike, and connections must still reach the endpoints.
func TestRejectedNATTableKeepsFilterTable(t *testing.T) {
	noEndpoints := withoutDocument(t, trafficServices, "name: web-1,")
	if !strings.Contains(string(iptables.Render(trafficModel(t, noEndpoints)).Payload()), `"t/web:http has no endpoints" -m tcp -p tcp -d 172.30.0.10 --dport 80 -j REJECT`) {
		t.Fatal("the second state has no REJECT for t/web: the test would prove nothing")
	}
	for _, mode := range []Mode{ModeIPTablesNFT, ModeIPTablesLegacy} {
		for _, incremental := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/incremental=%v", mode, incremental), func(t *testing.T) {
				e := newTrafficEnv(t, mode)
				r := &breakingRunner{Runner: ExecRunner{Prefix: e.topo.Node.Prefix()}}
				a := newApplier(r, mode, model.IPv4, nil, nil)
				if _, err := a.Apply(context.Background(), trafficModel(t, trafficServices), false); err != nil {
					t.Fatal(err)
				}
				r.on = true
				e.checkRejectionKeeps(t, func() error {
					_, err := a.Apply(context.Background(), trafficModel(t, noEndpoints), incremental)
					return err
				})
			})
		}
	}
}

// withoutDocument returns manifests without the document that holds
// marker.
func withoutDocument(t *testing.T, manifests, marker string) string {
	t.Helper()
	docs := strings.Split(manifests, "\n---\n")
	out := slices.DeleteFunc(slices.Clone(docs), func(d string) bool { return strings.Contains(d, marker) })
	if len(out) != len(docs)-1 {
		t.Fatalf("%d documents hold %q, want 1", len(docs)-len(out), marker)
	}
	return strings.Join(out, "\n---\n")
}

// breakingRunner adds a jump to a chain that does not exist to every
// ruleset it loads, just before the last table's end, once on is set
// (always, for a value). Only the loads of svcproxy's rules break:
// putting saved tables back (iptables-restore without --noflush) does
// not.
type breakingRunner struct {
	Runner
	on bool
}

func (r *breakingRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if !r.on {
		return r.Runner.Run(ctx, stdin, name, args...)
	}
	switch {
	case name == "nft" && slices.Equal(args, []string{"-f", "-"}):
		stdin = append(slices.Clip(stdin), "add rule ip svcproxy services jump no-such-chain\n"...)
	case strings.HasSuffix(name, "-restore") && slices.Contains(args, "--noflush"):
		text := string(stdin)
		i := strings.LastIndex(text, "COMMIT\n")
		stdin = []byte(text[:i] + "-A KUBE-SERVICES -j NO-SUCH-CHAIN\n" + text[i:])
	}
	return r.Runner.Run(ctx, stdin, name, args...)
}

// dumpRules returns the rules of mode in the namespace, without counters.
func dumpRules(t *testing.T, ns *netns.NS, mode Mode) string {
	t.Helper()
	var out string
	var err error
	if mode == ModeNFTables {
		out, err = ns.Run(nil, "nft", "list", "ruleset")
	} else {
		out, err = ns.Run(nil, IPTablesCommand(model.IPv4, mode, "save"))
	}
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestIPTablesWaitsForTheXtablesLock holds the xtables lock in another
// process while applying: the restore must wait for it and then succeed,
// not fail. A private lock file keeps the host's own lock out of it.
func TestIPTablesWaitsForTheXtablesLock(t *testing.T) {
	netnstest.RequireRoot(t, "iptables-legacy-restore", "flock")
	ns := netnstest.New(t)
	lock := filepath.Join(t.TempDir(), "xtables.lock")
	release := holdLock(t, lock)
	r := ExecRunner{Prefix: ns.Prefix(), Env: []string{"XTABLES_LOCKFILE=" + lock}}
	a := newApplier(r, ModeIPTablesLegacy, model.IPv4, nil, nil)
	done := make(chan error, 1)
	go func() {
		_, err := a.Apply(context.Background(), trafficModel(t, trafficServices), false)
		done <- err
	}()
	// However long the apply takes, it may not end while the lock is
	// held; the holder lets go only after this wait, so an apply that
	// ends within it did not wait.
	select {
	case err := <-done:
		t.Fatalf("apply finished while another process held the xtables lock (error: %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("apply once the lock was let go: %v", err)
	}
}

// TestIPTablesGivesUpOnAHeldLock holds the xtables lock and never lets go
// while applying: the apply must fail, as kube-proxy's does after 5 s,
// rather than stall the sync loop for as long as the holder lives.
func TestIPTablesGivesUpOnAHeldLock(t *testing.T) {
	netnstest.RequireRoot(t, "iptables-legacy-restore", "flock")
	ns := netnstest.New(t)
	lock := filepath.Join(t.TempDir(), "xtables.lock")
	holdLock(t, lock)
	r := ExecRunner{Prefix: ns.Prefix(), Env: []string{"XTABLES_LOCKFILE=" + lock}}
	// The deadline only keeps a regression from hanging the test run;
	// an apply that meets it has not given up by itself.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := newApplier(r, ModeIPTablesLegacy, model.IPv4, nil, nil).Apply(ctx, trafficModel(t, trafficServices), false)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("apply with the lock held for good: %v (context: %v), want it to give up", err, ctx.Err())
	}
	if out, err := exec.Command("flock", "-n", lock, "true").CombinedOutput(); err == nil {
		t.Fatalf("the lock was free when the apply gave up (%s): it did not wait for a holder", out)
	}
	t.Logf("gave up as expected: %v", err)
}

// holdLock takes lock in another process and returns once it holds it,
// with a function that makes it let go and waits until it has. The
// holder is killed when the test ends if it still runs.
func holdLock(t *testing.T, lock string) (release func()) {
	t.Helper()
	holder := exec.Command("flock", "-x", lock, "sh", "-c", "echo locked; read -r _")
	// A group of its own, so that the cleanup ends the shell too.
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = holder.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("lock holder said %q", line)
	}
	return func() {
		_ = stdin.Close()
		<-exited
	}
}

// TestCleanup applies rules in every mode next to other tools' rules,
// then cleans up: nothing of svcproxy's may remain, everything else must.
func TestCleanup(t *testing.T) {
	for _, kubeProxy := range []bool{false, true} {
		// The nftables tables are listed and deleted with nft, or over
		// netlink as run's takeover does.
		for _, overNetlink := range []bool{false, true} {
			name := map[bool]string{false: "svcproxy", true: "with kube-proxy leftovers"}[kubeProxy] +
				map[bool]string{false: "/nft", true: "/netlink"}[overNetlink]
			t.Run(name, func(t *testing.T) {
				netnstest.RequireRoot(t, "nft", "iptables-legacy", "iptables-nft")
				ns := netnstest.New(t)
				other := installOtherTools(t, ns, kubeProxy)
				r := ExecRunner{Prefix: ns.Prefix()}
				m := trafficModel(t, trafficServices)
				for _, mode := range trafficModes {
					if _, err := newApplier(r, mode, model.IPv4, nil, nil).Apply(context.Background(), m, false); err != nil {
						t.Fatalf("applying %s: %v", mode, err)
					}
				}
				c := &Cleanup{Runner: r, KubeProxy: kubeProxy}
				if overNetlink {
					c.Tables = &KernelNetlink{NetNS: "/run/netns/" + ns.Name}
				}
				report, err := c.Run(context.Background())
				if err != nil {
					t.Fatalf("cleanup: %v (did %v)", err, report)
				}
				checkCleaned(t, ns, kubeProxy, other)
			})
		}
	}
}

// installOtherTools puts rules of "another tool" in every subsystem, and
// kube-proxy's leftovers if asked, and returns what must survive.
func installOtherTools(t *testing.T, ns *netns.NS, kubeProxy bool) []string {
	t.Helper()
	cmds := [][]string{
		{"nft", "add", "table", "ip", "othertool"},
		{"iptables-legacy", "-t", "filter", "-N", "OTHER-TOOL"},
		{"iptables-legacy", "-t", "filter", "-A", "INPUT", "-j", "OTHER-TOOL"},
		{"iptables-nft", "-t", "nat", "-N", "OTHER-TOOL"},
		{"iptables-nft", "-t", "nat", "-A", "PREROUTING", "-j", "OTHER-TOOL"},
	}
	if kubeProxy {
		cmds = append(cmds,
			[]string{"nft", "add", "table", "ip", "kube-proxy"},
			[]string{"iptables-nft", "-t", "mangle", "-N", "KUBE-PROXY-CANARY"},
			[]string{"iptables-legacy", "-t", "nat", "-N", "KUBE-XLB-OLDCHAIN"})
	}
	for _, c := range cmds {
		if _, err := ns.Run(nil, c[0], c[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"table ip othertool", "-A INPUT -j OTHER-TOOL", "-A PREROUTING -j OTHER-TOOL"}
}

func checkCleaned(t *testing.T, ns *netns.NS, kubeProxy bool, survivors []string) {
	t.Helper()
	var all strings.Builder
	for _, c := range []string{"iptables-legacy-save", "iptables-nft-save"} {
		out, err := ns.Run(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(out)
	}
	out, err := ns.Run(nil, "nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	all.WriteString(out)
	gone := []string{"KUBE-SERVICES", "KUBE-SVC-", "KUBE-SEP-", "KUBE-MARK-MASQ", "table ip svcproxy"}
	if kubeProxy {
		gone = append(gone, "KUBE-PROXY-CANARY", "KUBE-XLB-", "table ip kube-proxy")
	}
	for _, g := range gone {
		if strings.Contains(all.String(), g) {
			t.Errorf("%q remains after cleanup:\n%s", g, all.String())
		}
	}
	checkSurvivors(t, ns, survivors)
}

// checkSurvivors checks that every one of survivors, rules of other
// tools, is still in some backend's dump.
func checkSurvivors(t *testing.T, ns *netns.NS, survivors []string) {
	t.Helper()
	var all strings.Builder
	for _, c := range [][]string{{"iptables-legacy-save"}, {"iptables-nft-save"}, {"nft", "list", "tables"}} {
		out, err := ns.Run(nil, c[0], c[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(out)
	}
	for _, s := range survivors {
		if !strings.Contains(all.String(), s) {
			t.Errorf("another tool's %q was removed:\n%s", s, all.String())
		}
	}
}

// TestRejectedBatchKeepsRules sends nftables mode's full table over
// netlink with one more message at its end, a rule the kernel refuses (a
// jump to a chain that does not exist). The kernel must commit none of
// the batch: the error names that command, and the rules and traffic are
// as they were.
func TestRejectedBatchKeepsRules(t *testing.T) {
	e := newTrafficEnv(t, ModeNFTables)
	e.apply(t, trafficServices)
	e.checkRejectionKeeps(t, func() error {
		a := &NFTables{Family: model.IPv4, Runner: ExecRunner{Prefix: e.topo.Node.Prefix()},
			Netlink: breakingSender{&KernelNetlink{NetNS: "/run/netns/" + e.topo.Node.Name}}}
		_, err := a.Apply(context.Background(), trafficModel(t, trafficServices), false)
		var be *BatchError
		if !errors.As(err, &be) || !strings.Contains(be.Command, "jump nowhere") || !errors.Is(err, unix.ENOENT) {
			t.Errorf("error %v does not name the refused command and its errno", err)
		}
		return err
	})
}

// breakingSender adds a rule the kernel refuses to every batch.
type breakingSender struct{ BatchSender }

func (s breakingSender) SendBatch(msgs []nfnl.Message) error {
	bad, err := nfnl.NewEncoder(knftables.IPv4Family, "svcproxy").Encode("add rule ip svcproxy services jump nowhere\n")
	if err != nil {
		return err
	}
	return s.BatchSender.SendBatch(append(msgs, bad.Messages...))
}
