package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/kubecluster"
)

// clusterCIDR is the cluster's pod network (docs/test-addresses.md), which
// README tells users to set in deploy/svcproxy.yaml.
const clusterCIDR = "10.1.0.0/16"

// webNodePort is the NodePort of testdata/web.yaml.
const webNodePort = 30080

// host is a kind of node kube-proxy ran on before the takeover.
type host struct {
	name      string
	iptables  string // the host's variant, where the kubelet's hint is
	proxyMode string // kube-proxy's --proxy-mode
}

// hosts are the three kinds of node README's steps must take over.
var hosts = []host{
	{"iptables-legacy", kubecluster.IPTablesLegacy, "iptables"},
	{"iptables-nft", kubecluster.IPTablesNFT, "iptables"},
	{"nftables", kubecluster.IPTablesNFT, "nftables"},
}

// TestTakeover runs kube-proxy as kubeadm deploys it, with a Service of
// two pods behind it, then follows README's "Replacing kube-proxy on a
// cluster" verbatim with the unmodified deploy/svcproxy.yaml (only its
// image and cluster CIDR set, as README says), probing the Service all
// the while: no connection may fail, kube-proxy's rules must be gone and
// every other rule on the node kept.
func TestTakeover(t *testing.T) {
	Require(t)
	ctx, cancel := testContext(t)
	defer cancel()
	img := buildImages(ctx, t)
	steps, rollback := readmeSteps(t), readmeRollback(t)
	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) {
			c, dir, targets, before := takeover(ctx, t, img, steps, h)
			rollBack(ctx, t, c, dir, rollback, targets, before, h)
		})
	}
}

// takeover runs README's takeover steps on a fresh cluster whose node
// kube-proxy serves as on h, and returns the cluster, the user's checkout
// the steps ran in, the Service's addresses and the node's rules before.
func takeover(ctx context.Context, t *testing.T, img images, steps []string, h host) (*kubecluster.Cluster, string, []string, rules) {
	c := StartWith(t, kubecluster.Options{IPTables: h.iptables})
	client, err := kubernetes.NewForConfig(c.API.Config)
	if err != nil {
		t.Fatal(err)
	}
	img.importKubeProxy(ctx, t, c)
	img.importSvcproxy(ctx, t, c)
	kubectl(ctx, t, c, "", "apply", "-f", kubeProxyManifest(t, h))
	kubectl(ctx, t, c, "", "apply", "-f", filepath.Join("testdata", "web.yaml"))
	targets := webTargets(ctx, t, client)
	waitForServing(ctx, t, c, targets)
	before := settledRules(ctx, t, c)
	checkProxyRules(t, before, "kube-proxy", kubeProxyBackend(h))

	p := startProbe(dialer(t, c), targets...)
	start := time.Now()
	dir := userCheckout(t)
	for _, step := range steps {
		t.Logf("%s README: %s", time.Now().Format("15:04:05.000"), step)
		run(ctx, t, c, dir, "sh", "-c", step)
	}
	owned := waitForOwner(ctx, t, client, svcproxyPods, kubeProxyPods)
	t.Logf("%s host: svcproxy owned the node %v after the first step", h.name, owned.Sub(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // and keeps serving after
	tries, failed, failures, servers := p.result()
	t.Logf("%s host: %d of %d connections failed during the takeover; %s", h.name, failed, tries, p.slowNote())
	if failed > 0 {
		t.Errorf("%d of %d connections failed; the first: %s", failed, tries, strings.Join(failures, "; "))
	}
	if len(servers) != 2 {
		t.Errorf("answered by %v, want both pods", servers)
	}
	after := readRules(t, c)
	checkProxyRules(t, after, "svcproxy", "nftables")
	checkOthersKept(t, before, after)
	return c, dir, targets, before
}

// rollBack runs README's rollback steps after takeover, probing the
// Service throughout: no connection may fail, and the node's rules must
// be kube-proxy's again, as they were before the takeover.
func rollBack(ctx context.Context, t *testing.T, c *kubecluster.Cluster, dir string, steps, targets []string, before rules, h host) {
	client, err := kubernetes.NewForConfig(c.API.Config)
	if err != nil {
		t.Fatal(err)
	}
	p := startProbe(dialer(t, c), targets...)
	start := time.Now()
	for _, step := range steps {
		t.Logf("%s README: %s", time.Now().Format("15:04:05.000"), step)
		run(ctx, t, c, dir, "sh", "-c", step)
	}
	waitForOwner(ctx, t, client, kubeProxyPods, svcproxyPods)
	t.Logf("%s host: kube-proxy owned the node again %v after the first step", h.name, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	tries, failed, failures, _ := p.result()
	t.Logf("%s host: %d of %d connections failed during the rollback; %s", h.name, failed, tries, p.slowNote())
	if failed > 0 {
		t.Errorf("%d of %d connections failed; the first: %s", failed, tries, strings.Join(failures, "; "))
	}
	after := settledRules(ctx, t, c)
	checkProxyRules(t, after, "kube-proxy", kubeProxyBackend(h))
	checkOthersKept(t, before, after)
	bl, bn, bt := before.proxies()
	al, an, at := after.proxies()
	if diff := cmp.Diff([][]string{bl, bn, bt}, [][]string{al, an, at}, cmpopts.SortSlices(strings.Compare)); diff != "" {
		t.Errorf("kube-proxy's rules after the rollback differ from before the takeover (-before +after):\n%s", diff)
	}
}

// checkOthersKept checks that every rule that is not a proxy's is as it
// was before.
func checkOthersKept(t *testing.T, before, after rules) {
	t.Helper()
	if diff := cmp.Diff(before.others(), after.others()); diff != "" {
		t.Errorf("rules of other tools changed (-before +after):\n%s\nbefore:\n%s\nafter:\n%s", diff, before, after)
	}
}

// settledRules reads the node's rules once they have stopped changing:
// kube-proxy's first syncs and the kubelet's rules are in by then, so that
// what changes afterwards is the takeover's doing.
func settledRules(ctx context.Context, t *testing.T, c *kubecluster.Cluster) rules {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	last := readRules(t, c)
	waitFor(ctx, t, "the node's rules to settle", func() (bool, error) {
		time.Sleep(time.Second)
		now := readRules(t, c)
		same := now.String() == last.String()
		last = now
		return same, nil
	})
	return last
}

// kubeProxyBackend is the backend kube-proxy's rules are in on h.
func kubeProxyBackend(h host) string {
	if h.proxyMode == "nftables" {
		return "nftables"
	}
	return h.iptables
}

// checkProxyRules checks that the proxies' rules are all in backend
// (legacy, nft or nftables) and that they are who's.
func checkProxyRules(t *testing.T, r rules, who, backend string) {
	t.Helper()
	legacy, nft, tables := r.proxies()
	has := map[string]bool{"legacy": len(legacy) > 0, "nft": len(nft) > 0, "nftables": len(tables) > 0}
	want := map[string]bool{"legacy": false, "nft": false, "nftables": false, backend: true}
	if diff := cmp.Diff(want, has); diff != "" {
		t.Errorf("backends holding %s's rules (-want +got):\n%s\nlegacy: %q\nnft: %q\ntables: %q", who, diff, legacy, nft, tables)
	}
	if backend == "nftables" {
		wantTable := "table ip " + who
		if !slices.Contains(tables, wantTable) {
			t.Errorf("nftables tables %q: want %q", tables, wantTable)
		}
	}
}

// kubeProxyManifest fills testdata/kube-proxy.yaml in for h and returns
// the file's path.
func kubeProxyManifest(t *testing.T, h host) string {
	t.Helper()
	return fillTemplate(t, "kube-proxy.yaml", map[string]string{
		"Image": kubeProxyImage, "Mode": h.proxyMode, "IPTables": h.iptables,
		"Server": "https://" + kubecluster.NodeIP + ":6443", "ClusterCIDR": clusterCIDR,
	})
}

// fillTemplate fills testdata/name in with values and returns the path of
// the result.
func fillTemplate(t *testing.T, name string, values map[string]string) string {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Option("missingkey=error").Execute(&b, values); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// edit replaces the one occurrence of old in a file with new.
type edit struct{ old, new string }

// userCheckout is what a user has before README's steps: a directory with
// deploy/svcproxy.yaml, its image and --cluster-cidr set as step 1 says,
// and the extra edits made.
func userCheckout(t *testing.T, extra ...edit) string {
	t.Helper()
	manifest := string(readFile(t, filepath.Join(repoRoot(t), "deploy", "svcproxy.yaml")))
	edits := append([]edit{
		{"image: &image svcproxy:dev", "image: &image " + svcproxyImage},
		// The node is a network namespace, where nf_conntrack_max is the
		// host's and read-only: its size is not a test's to set, as
		// testdata/kube-proxy.yaml says to kube-proxy (kind does too).
		{"--cluster-cidr=10.244.0.0/16", "--cluster-cidr=" + clusterCIDR + "\n        - --conntrack-max-per-core=0"},
	}, extra...)
	for _, edit := range edits {
		if n := strings.Count(manifest, edit.old); n != 1 {
			t.Fatalf("deploy/svcproxy.yaml has %d of %q, want one to set as README says", n, edit.old)
		}
		manifest = strings.Replace(manifest, edit.old, edit.new, 1)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deploy", "svcproxy.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readmeCommand is a command of README's takeover or rollback steps.
var readmeCommand = regexp.MustCompile("`((?:kubectl|until|nft) [^`]+)`")

// readmeSteps returns the commands of README's "Replacing kube-proxy on a
// cluster", in order: what the test runs, verbatim.
func readmeSteps(t *testing.T) []string {
	t.Helper()
	takeover, _ := readmeSections(t)
	return readmeCommands(t, takeover, "takeover", "stop kube-proxy", "apply deploy/svcproxy.yaml")
}

// readmeRollback returns the commands of README's rollback, in order.
func readmeRollback(t *testing.T) []string {
	t.Helper()
	_, rollback := readmeSections(t)
	return readmeCommands(t, rollback, "rollback", "delete svcproxy", "start kube-proxy", "wait for its sync", "delete svcproxy's table")
}

// readmeSections returns README's takeover steps and its rollback steps.
func readmeSections(t *testing.T) (takeover, rollback string) {
	t.Helper()
	readme := string(readFile(t, filepath.Join(repoRoot(t), "README.md")))
	_, section, ok := strings.Cut(readme, "### Replacing kube-proxy on a cluster\n")
	if !ok {
		t.Fatal(`README.md has no "### Replacing kube-proxy on a cluster"`)
	}
	takeover, rollback, ok = strings.Cut(section, "\nRolling back")
	if !ok {
		t.Fatal(`README's "Replacing kube-proxy on a cluster" has no "Rolling back"`)
	}
	rollback, _, _ = strings.Cut(rollback, "\n\n")
	return takeover, rollback
}

// readmeCommands returns the commands in section, one for each of the
// steps named.
func readmeCommands(t *testing.T, section, what string, steps ...string) []string {
	t.Helper()
	var commands []string
	for _, m := range readmeCommand.FindAllStringSubmatch(section, -1) {
		commands = append(commands, m[1])
	}
	if len(commands) != len(steps) {
		t.Fatalf("README's %s has commands %q, want one each to %s", what, commands, strings.Join(steps, ", "))
	}
	return commands
}

// webTargets returns the Service's cluster IP and node port addresses.
func webTargets(ctx context.Context, t *testing.T, client kubernetes.Interface) []string {
	t.Helper()
	svc, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		fmt.Sprintf("%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port),
		fmt.Sprintf("%s:%d", kubecluster.NodeIP, webNodePort),
	}
}

// waitForServing waits until kube-proxy answers every target.
func waitForServing(ctx context.Context, t *testing.T, c *kubecluster.Cluster, targets []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	p := &probe{dial: dialer(t, c), servers: map[string]bool{}}
	waitFor(ctx, t, "kube-proxy to serve "+strings.Join(targets, " and "), func() (bool, error) {
		for _, target := range targets {
			if _, err := p.once(target); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// proxyPods names the pods of a proxy's DaemonSet by a label.
type proxyPods struct{ name, label, value string }

var (
	kubeProxyPods = proxyPods{"kube-proxy", "k8s-app", "kube-proxy"}
	svcproxyPods  = proxyPods{"svcproxy", "app.kubernetes.io/name", "svcproxy"}
)

// waitForOwner waits until owner's pod is Ready and other's is gone, and
// returns when.
func waitForOwner(ctx context.Context, t *testing.T, client kubernetes.Interface, owner, other proxyPods) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	waitFor(ctx, t, owner.name+" to own the node", func() (bool, error) {
		pods, err := client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var ready, left bool
		for _, pod := range pods.Items {
			left = left || pod.Labels[other.label] == other.value
			ready = ready || pod.Labels[owner.label] == owner.value && podReady(&pod)
		}
		return ready && !left, fmt.Errorf("%s Ready: %v, %s's pod still there: %v", owner.name, ready, other.name, left)
	})
	return time.Now()
}

func podReady(pod *v1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == v1.PodReady {
			return cond.Status == v1.ConditionTrue
		}
	}
	return false
}

// kubectl runs kubectl on the node from this package's directory.
func kubectl(ctx context.Context, t *testing.T, c *kubecluster.Cluster, dir string, args ...string) string {
	t.Helper()
	if dir == "" {
		dir = "."
	}
	return run(ctx, t, c, dir, "kubectl", args...)
}

// run runs a command on the node, in dir, failing t if it fails.
func run(ctx context.Context, t *testing.T, c *kubecluster.Cluster, dir, name string, args ...string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := c.Command(abs, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dialer connects from the node's network namespace.
func dialer(t *testing.T, c *kubecluster.Cluster) func(ctx context.Context, network, address string) (net.Conn, error) {
	t.Helper()
	dial, err := kubeapi.Dialer(c.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	return dial
}
