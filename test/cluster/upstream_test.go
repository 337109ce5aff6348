package cluster

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/kubecluster"
	"github.com/svcproxy/svcproxy/internal/rootfs"
)

// UpstreamFocusEnv names the environment variable that chooses which of
// upstream's e2e tests TestUpstreamServices runs, as a ginkgo focus
// regular expression: "conformance" for the conformance tests of
// [sig-network] Services, "all" for every [sig-network] Services test
// that can run on one node without a cloud provider; unset for ciFocus.
const UpstreamFocusEnv = "SVCPROXY_UPSTREAM_FOCUS"

// upstreamLogsEnv names the environment variable of a directory that
// keeps e2e.test's output of every run, which is long, for reading after
// the test's own directories are gone.
const upstreamLogsEnv = "SVCPROXY_UPSTREAM_LOGS"

// ciFocus is the representative subset CI runs: traffic to a cluster IP
// with session affinity, to a NodePort, and hairpin traffic, all from
// pods, by name through the cluster DNS.
const ciFocus = `\[sig-network\] Services should (have session affinity work for service with type clusterIP|be able to create a functioning NodePort service|allow pods to hairpin back to themselves)`

// allFocus and allSkip choose the [sig-network] Services tests a single
// node without a cloud provider can run: no load balancer, no second
// node, nothing that disrupts the cluster.
const (
	allFocus = `\[sig-network\] Services `
	allSkip  = `\[Serial\]|\[Disruptive\]|LoadBalancer|\[Feature:|\[Slow\]`
)

// proxyUnderTest is a service proxy the upstream tests judge.
type proxyUnderTest struct {
	name string
	// kubeProxyMode is kube-proxy's --proxy-mode; "" for svcproxy.
	kubeProxyMode string
	// svcproxyMode is the --proxy-mode set in deploy/svcproxy.yaml.
	svcproxyMode string
	// fresh deploys svcproxy on a cluster that never ran kube-proxy,
	// rather than over kube-proxy by README's steps.
	fresh bool
}

var proxiesUnderTest = []proxyUnderTest{
	{name: "kube-proxy iptables", kubeProxyMode: "iptables"},
	{name: "kube-proxy nftables", kubeProxyMode: "nftables"},
	{name: "svcproxy iptables", svcproxyMode: "iptables"},
	{name: "svcproxy nftables", svcproxyMode: "auto"},
	{name: "svcproxy nftables fresh", svcproxyMode: "auto", fresh: true},
}

// TestUpstreamServices runs upstream's own [sig-network] Services e2e
// tests (e2e.test of the cluster's Kubernetes minor) on a cluster served
// by kube-proxy in each mode, by svcproxy in each mode after it took the
// node over from kube-proxy, and by svcproxy on a cluster that never ran
// kube-proxy, and requires that every test kube-proxy passes, svcproxy
// passes too.
func TestUpstreamServices(t *testing.T) {
	Require(t)
	ctx, cancel := testContext(t)
	// The proxies run in parallel (go test's -parallel, GOMAXPROCS by
	// default), after this function returns: cleanups end the context
	// and judge the results once they all have.
	t.Cleanup(cancel)
	img := buildImages(ctx, t)
	bins, err := kubeapi.Build(ctx, t.Logf, kubeapi.E2ETest, kubeapi.Agnhost, kubeapi.CoreDNS)
	if err != nil {
		t.Fatal(err)
	}
	agnhost := buildAgnhostImage(ctx, t, bins[kubeapi.Agnhost])
	focus, skip := upstreamFocus()
	steps := readmeSteps(t)
	var mu sync.Mutex
	results := map[string]map[string]string{} // proxy -> test -> outcome
	t.Cleanup(func() {
		t.Logf("upstream results:\n%s", resultTable(results))
		checkParity(t, results)
	})
	for _, p := range proxiesUnderTest {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			c := StartWith(t, kubecluster.Options{})
			img.importKubeProxy(ctx, t, c)
			img.importSvcproxy(ctx, t, c)
			agnhost.importInto(ctx, t, c, bins[kubeapi.E2ETest])
			deployProxy(ctx, t, c, p, steps)
			deployDNS(ctx, t, c, img.base, bins[kubeapi.CoreDNS])
			r := runUpstream(ctx, t, c, bins[kubeapi.E2ETest], focus, skip)
			mu.Lock()
			defer mu.Unlock()
			results[p.name] = r
		})
	}
}

// upstreamFocus returns the focus and skip of UpstreamFocusEnv.
func upstreamFocus() (focus, skip string) {
	switch f := os.Getenv(UpstreamFocusEnv); f {
	case "":
		return ciFocus, allSkip
	case "conformance":
		return allFocus + `.*\[Conformance\]`, allSkip
	case "all":
		return allFocus, allSkip
	default:
		return f, allSkip
	}
}

// deployProxy starts p on the cluster and waits until it serves:
// kube-proxy from testdata/kube-proxy.yaml; svcproxy from
// deploy/svcproxy.yaml as a user has it after README's step 1, over
// kube-proxy in iptables mode by README's steps, or on a cluster that
// never ran kube-proxy, pointed at the API server as the manifest's
// comment says.
func deployProxy(ctx context.Context, t *testing.T, c *kubecluster.Cluster, p proxyUnderTest, steps []string) {
	t.Helper()
	mode := edit{"--proxy-mode=auto", "--proxy-mode=" + p.svcproxyMode}
	switch {
	case p.kubeProxyMode != "":
		startKubeProxy(ctx, t, c, p.kubeProxyMode)
	case p.fresh:
		dir := userCheckout(t, mode,
			edit{`# - {name: KUBERNETES_SERVICE_HOST, value: "API-SERVER-ADDRESS"}`, `- {name: KUBERNETES_SERVICE_HOST, value: "` + kubecluster.NodeIP + `"}`},
			edit{`# - {name: KUBERNETES_SERVICE_PORT, value: "6443"}`, `- {name: KUBERNETES_SERVICE_PORT, value: "6443"}`})
		kubectl(ctx, t, c, dir, "apply", "-f", "deploy/svcproxy.yaml")
	default:
		startKubeProxy(ctx, t, c, "iptables")
		dir := userCheckout(t, mode)
		for _, step := range steps {
			run(ctx, t, c, dir, "sh", "-c", step)
		}
		client, err := kubernetes.NewForConfig(c.API.Config)
		if err != nil {
			t.Fatal(err)
		}
		waitForOwner(ctx, t, client, svcproxyPods, kubeProxyPods)
	}
	kubectl(ctx, t, c, "", "-n", "kube-system", "rollout", "status", "daemonset", "--timeout=3m")
}

// startKubeProxy runs kube-proxy in mode on the cluster, an iptables-nft
// host, and waits until it serves the kubernetes Service: its DaemonSet
// reports Ready before kube-proxy's first sync, and a proxy that replaces
// it then would find no way to the API server.
func startKubeProxy(ctx context.Context, t *testing.T, c *kubecluster.Cluster, mode string) {
	t.Helper()
	kubectl(ctx, t, c, "", "apply", "-f", kubeProxyManifest(t, host{iptables: kubecluster.IPTablesNFT, proxyMode: mode}))
	kubectl(ctx, t, c, "", "-n", "kube-system", "rollout", "status", "daemonset/kube-proxy", "--timeout=3m")
	waitForConnect(ctx, t, c, net.JoinHostPort(kubeapi.KubernetesServiceIP, "443"))
}

// waitForConnect waits until a TCP connection from the node to target
// opens.
func waitForConnect(ctx context.Context, t *testing.T, c *kubecluster.Cluster, target string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	dial := dialer(t, c)
	waitFor(ctx, t, "a connection to "+target, func() (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := dial(ctx, "tcp", target)
		if err != nil {
			return false, err
		}
		return true, conn.Close()
	})
}

// dnsImage is CoreDNS's image: the binary on the images' root filesystem.
const dnsImage = "svcproxy.test/coredns:dev"

// deployDNS runs CoreDNS behind the kube-dns Service, whose cluster IP the
// kubelet gives pods as their name server, and waits until it is ready.
// The proxy under test carries its traffic like any Service's.
func deployDNS(ctx context.Context, t *testing.T, c *kubecluster.Cluster, base, coredns string) {
	t.Helper()
	err := c.ImportImage(ctx, kubecluster.Image{Tag: dnsImage, Base: base, Entrypoint: []string{"/coredns"},
		Files: []kubecluster.ImageFile{{Name: "coredns", Mode: 0o755, Data: readFile(t, coredns)}}})
	if err != nil {
		t.Fatal(err)
	}
	manifest := fillTemplate(t, "coredns.yaml", map[string]string{"Image": dnsImage, "ClusterIP": kubecluster.DNSServiceIP})
	kubectl(ctx, t, c, "", "apply", "-f", manifest)
	kubectl(ctx, t, c, "", "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=3m")
}

// runUpstream runs e2e.test on the node and returns each test's outcome:
// passed, failed or skipped.
func runUpstream(ctx context.Context, t *testing.T, c *kubecluster.Cluster, e2e, focus, skip string) map[string]string {
	t.Helper()
	// Each a directory of its own: e2e.test empties its report and output
	// directories, and would pull its working directory away.
	work, report, output := t.TempDir(), t.TempDir(), t.TempDir()
	start := time.Now()
	cmd := c.Command(work, e2e,
		"--kubeconfig="+c.API.Kubeconfig, "--provider=skeleton", "--report-dir="+report,
		"--ginkgo.focus="+focus, "--ginkgo.skip="+skip, "--ginkgo.no-color", "--ginkgo.timeout=2h",
		"--e2e-output-dir="+output, "--disable-log-dump")
	cmd.Env = append(cmd.Env, "KUBE_CONTAINER_RUNTIME=remote")
	out, err := cmd.CombinedOutput()
	if dir := os.Getenv(upstreamLogsEnv); dir != "" {
		name := strings.ReplaceAll(t.Name(), "/", "_") + ".log"
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	results, parseErr := readJUnit(filepath.Join(report, "junit_01.xml"))
	if parseErr != nil {
		t.Fatalf("e2e.test: %v (%v)\n%s", parseErr, err, tail(string(out), 60))
	}
	t.Logf("e2e.test ran %d tests in %v (%v)", len(results), time.Since(start).Round(time.Second), err)
	if err != nil {
		t.Logf("end of e2e.test's output:\n%s", tail(string(out), 80))
	}
	return results
}

// junitSuite is the part of a JUnit report the results are read from.
type junitSuite struct {
	Cases []struct {
		Name    string    `xml:"name,attr"`
		Skipped *struct{} `xml:"skipped"`
		Failure *struct{} `xml:"failure"`
		Error   *struct{} `xml:"error"`
	} `xml:"testcase"`
}

// readJUnit reads ginkgo's JUnit report into test -> outcome, leaving out
// the suite's own setup and teardown nodes.
func readJUnit(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var suites struct {
		Suites []junitSuite `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	out := map[string]string{}
	for _, s := range suites.Suites {
		for _, tc := range s.Cases {
			name, ok := strings.CutPrefix(tc.Name, "[It] ")
			if !ok {
				continue
			}
			switch {
			case tc.Failure != nil || tc.Error != nil:
				out[name] = "failed"
			case tc.Skipped != nil:
				// Not chosen by the focus, or skipped by the test
				// itself for want of something this cluster lacks.
				continue
			default:
				out[name] = "passed"
			}
		}
	}
	return out, nil
}

// checkParity requires that svcproxy passes every test kube-proxy passes
// in any mode, in each of its modes that ran (go test -run may choose).
func checkParity(t *testing.T, results map[string]map[string]string) {
	t.Helper()
	for test, outcome := range results["kube-proxy iptables"] {
		if outcome != "passed" && results["kube-proxy nftables"][test] != "passed" {
			continue
		}
		for _, p := range proxiesUnderTest {
			if _, ran := results[p.name]; !ran {
				continue
			}
			if p.kubeProxyMode == "" && results[p.name][test] != "passed" {
				t.Errorf("%s: %q %s, though kube-proxy passes it", p.name, test, orNotRun(results[p.name][test]))
			}
		}
	}
}

func orNotRun(outcome string) string {
	if outcome == "" {
		return "not run"
	}
	return outcome
}

// resultTable renders the results as the Markdown table of docs/.
func resultTable(results map[string]map[string]string) string {
	var tests []string
	for _, r := range results {
		for test := range r {
			if !slices.Contains(tests, test) {
				tests = append(tests, test)
			}
		}
	}
	slices.Sort(tests)
	var b strings.Builder
	b.WriteString("| Test |")
	for _, p := range proxiesUnderTest {
		b.WriteString(" " + p.name + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(proxiesUnderTest)) + "\n")
	for _, test := range tests {
		fmt.Fprintf(&b, "| %s |", strings.TrimPrefix(test, "[sig-network] Services "))
		for _, p := range proxiesUnderTest {
			b.WriteString(" " + orNotRun(results[p.name][test]) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// agnhostImage is upstream's test image, rebuilt from its source on a
// Debian root filesystem with the tools its tests run in it (upstream's
// is Alpine with the same tools).
type agnhostImage struct {
	base, bin string
}

// agnhostPackages are the Debian packages of the tools upstream's agnhost
// image installs, and wget, which busybox gives its Alpine base: the
// tests that check a Service from a pod's shell run it.
var agnhostPackages = []string{"bind9-dnsutils", "curl", "iperf", "iproute2", "netcat-openbsd", "wget"}

func buildAgnhostImage(ctx context.Context, t *testing.T, bin string) agnhostImage {
	t.Helper()
	cache, err := kubeapi.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	base, err := rootfs.Build(ctx, t.Logf, cache, rootfs.Spec{Suite: "bookworm", Packages: agnhostPackages})
	if err != nil {
		t.Fatalf("building agnhost's root filesystem: %v", err)
	}
	return agnhostImage{base: base, bin: bin}
}

// imageLine matches e2e.test --list-images lines of the images imported.
var imageLine = regexp.MustCompile(`^\S+/(agnhost|pause):\S+$`)

// importInto imports agnhost, and the pause image, under the names e2e.test
// asks for (e2e.test --list-images), so that its pods find them on the node.
func (a agnhostImage) importInto(ctx context.Context, t *testing.T, c *kubecluster.Cluster, e2e string) {
	t.Helper()
	out := run(ctx, t, c, "/", e2e, "--list-images")
	var names []string
	for _, name := range strings.Fields(out) {
		if imageLine.MatchString(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("e2e.test --list-images names no agnhost or pause image:\n%s", out)
	}
	// agnhost pause does what the pause image does.
	img := kubecluster.Image{Tag: names[0], Base: a.base, Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"},
		Files: []kubecluster.ImageFile{{Name: "agnhost", Mode: 0o755, Data: readFile(t, a.bin)}}}
	if err := c.ImportImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	for _, name := range names[1:] {
		if err := c.TagImage(ctx, names[0], name); err != nil {
			t.Fatal(err)
		}
	}
}
