package kubeapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/svcproxy/svcproxy/internal/filelock"
)

// mainModule is the module whose go.mod marks the repository root.
const mainModule = "github.com/svcproxy/svcproxy"

// CacheEnv names the environment variable that overrides where the built
// binaries are kept, so CI can point it at a directory it caches.
const CacheEnv = "SVCPROXY_TEST_CACHE"

// Binary is a server built from one of the tools modules under test/tools.
type Binary string

// The binaries Build knows.
const (
	Etcd      Binary = "etcd"
	APIServer Binary = "kube-apiserver"
	KubeProxy Binary = "kube-proxy"
	// Kubelet, ControllerManager and Scheduler are the node and controller
	// binaries of a real cluster (internal/kubecluster), built from
	// test/tools/cluster, which pins an older Kubernetes minor than
	// test/tools; its go.mod says why.
	Kubelet           Binary = "kubelet"
	ControllerManager Binary = "kube-controller-manager"
	Scheduler         Binary = "kube-scheduler"
	// Kubectl runs the commands README gives operators, verbatim.
	Kubectl Binary = "kubectl"
	// E2ETest is upstream's end-to-end test binary, and Agnhost the
	// program of the image its network tests run.
	E2ETest Binary = "e2e.test"
	Agnhost Binary = "agnhost"
	// CoreDNS is the cluster DNS those tests reach Services by.
	CoreDNS Binary = "coredns"
)

// source is where a binary is built from.
type source struct {
	module string // directory of the module's go.mod, relative to the repository root
	pkg    string // import path, or a path relative to module
	test   bool   // the package's test binary (go test -c) rather than its command
}

// Modules of the tools, relative to the repository root.
const (
	toolsModule   = "test/tools"
	clusterModule = "test/tools/cluster"
	dnsModule     = "test/tools/dns"
)

// sources maps every binary to its module and package.
var sources = map[Binary]source{
	Etcd:              {module: toolsModule, pkg: "./etcd"},
	APIServer:         {module: toolsModule, pkg: "k8s.io/kubernetes/cmd/kube-apiserver"},
	KubeProxy:         {module: toolsModule, pkg: "k8s.io/kubernetes/cmd/kube-proxy"},
	Kubelet:           {module: clusterModule, pkg: "k8s.io/kubernetes/cmd/kubelet"},
	ControllerManager: {module: clusterModule, pkg: "k8s.io/kubernetes/cmd/kube-controller-manager"},
	Scheduler:         {module: clusterModule, pkg: "k8s.io/kubernetes/cmd/kube-scheduler"},
	Kubectl:           {module: clusterModule, pkg: "k8s.io/kubernetes/cmd/kubectl"},
	E2ETest:           {module: clusterModule, pkg: "k8s.io/kubernetes/test/e2e", test: true},
	Agnhost:           {module: clusterModule, pkg: "k8s.io/kubernetes/test/images/agnhost"},
	CoreDNS:           {module: dnsModule, pkg: "github.com/coredns/coredns"},
}

// stampSuffix names the file beside each binary that records which
// go.mod/go.sum of its module it was built from; it is written last, so
// its presence means a whole build.
const stampSuffix = ".hash"

// Logf receives progress messages; the first build takes minutes.
type Logf func(format string, args ...any)

// Build builds (or reuses from a cache directory) the named binaries and
// returns their paths. The cache is $SVCPROXY_TEST_CACHE, or
// svcproxy-test-bin under the user cache directory; a binary is rebuilt
// only when it is missing or the go.mod or go.sum of its module changed.
// ctx bounds the build: the first one takes about 10 minutes per module.
func Build(ctx context.Context, logf Logf, bins ...Binary) (map[Binary]string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, fmt.Errorf("finding the repository root: %w", err)
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, fmt.Errorf("choosing the binary cache: %w", err)
	}
	sums := map[string]string{} // module directory -> its hash
	paths := map[Binary]string{}
	for _, b := range bins {
		src, ok := sources[b]
		if !ok {
			return nil, fmt.Errorf("building %s: unknown binary", b)
		}
		dir := filepath.Join(root, filepath.FromSlash(src.module))
		if _, ok := sums[dir]; !ok {
			if sums[dir], err = moduleHash(dir); err != nil {
				return nil, fmt.Errorf("hashing %s: %w", src.module, err)
			}
		}
		if !upToDate(cache, b, sums[dir]) {
			if err := buildLocked(ctx, logf, dir, cache, b, sums[dir]); err != nil {
				return nil, fmt.Errorf("building %s: %w", b, err)
			}
		}
		paths[b] = filepath.Join(cache, string(b))
	}
	return paths, nil
}

// CacheDir returns the cache directory of built binaries, creating it:
// $SVCPROXY_TEST_CACHE, or svcproxy-test-bin under the user cache
// directory. Other built artefacts of the tests (root filesystems of
// images) are kept there too, so CI caches one directory.
func CacheDir() (string, error) {
	dir := os.Getenv(CacheEnv)
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("finding the user cache directory (set %s): %w", CacheEnv, err)
		}
		dir = filepath.Join(base, "svcproxy-test-bin")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	return dir, nil
}

// repoRoot finds the repository root by walking up from the working
// directory to the main module's go.mod; go test runs each package in its
// own directory, so this works from anywhere in the repository.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting the working directory: %w", err)
	}
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", mainModule)
		}
		dir = parent
	}
}

// isMainModule reports whether the go.mod at path declares mainModule,
// telling the root apart from nested modules such as test/tools.
func isMainModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == mainModule
		}
	}
	return false
}

// moduleHash identifies the dependency versions a module's binaries come
// from. go.mod is hashed with go.sum because a replace line can change a
// build without necessarily changing go.sum.
func moduleHash(moduleDir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(moduleDir, name))
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upToDate reports whether cache holds the binary built from sum.
func upToDate(cache string, b Binary, sum string) bool {
	got, err := os.ReadFile(filepath.Join(cache, string(b)+stampSuffix))
	if err != nil || strings.TrimSpace(string(got)) != sum {
		return false
	}
	fi, err := os.Stat(filepath.Join(cache, string(b)))
	return err == nil && fi.Mode().IsRegular()
}

// buildLocked builds under an exclusive lock on the cache, so parallel
// test processes (go test ./... or CI jobs sharing a cache) build once.
func buildLocked(ctx context.Context, logf Logf, moduleDir, cache string, b Binary, sum string) error {
	unlock, err := filelock.Lock(ctx, logf, filepath.Join(cache, "build.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if upToDate(cache, b, sum) {
		logf("another process built %s in %s", b, cache)
		return nil
	}
	return build(ctx, logf, moduleDir, cache, b, sum)
}

// build compiles one binary into a scratch directory and renames it into
// the cache, writing its stamp last so a half-finished build is never
// mistaken for a whole one.
func build(ctx context.Context, logf Logf, moduleDir, cache string, b Binary, sum string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("finding the go command: %w", err)
	}
	scratch, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return fmt.Errorf("creating a scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	stamp := string(b) + stampSuffix
	_ = os.Remove(filepath.Join(cache, stamp))
	if err := goBuild(ctx, logf, goBin, moduleDir, filepath.Join(scratch, string(b)), sources[b]); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(scratch, string(b)), filepath.Join(cache, string(b))); err != nil {
		return fmt.Errorf("installing %s: %w", b, err)
	}
	if err := os.WriteFile(filepath.Join(scratch, stamp), []byte(sum+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the build hash: %w", err)
	}
	if err := os.Rename(filepath.Join(scratch, stamp), filepath.Join(cache, stamp)); err != nil {
		return fmt.Errorf("installing the build hash: %w", err)
	}
	return nil
}

// goBuild runs one go build in the tools module, logging progress because
// the first kube-apiserver build takes minutes.
func goBuild(ctx context.Context, logf Logf, goBin, dir, out string, src source) error {
	pkg := src.pkg
	args := []string{"build", "-o", out, pkg}
	if src.test {
		args = []string{"test", "-c", "-o", out, pkg}
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	// GOWORK=off keeps a go.work elsewhere from pulling the tools module
	// into a workspace whose versions it was not tidied against.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output

	logf("building %s in %s (the first build takes several minutes)", pkg, dir)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				logf("still building %s (%v)", pkg, time.Since(start).Round(time.Second))
			}
		}
	}()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("go build %s: stopped after %v; the first build can take over 10 minutes: %w",
				pkg, time.Since(start).Round(time.Second), ctx.Err())
		}
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output.String())
	}
	logf("built %s in %v", pkg, time.Since(start).Round(time.Second))
	return nil
}
