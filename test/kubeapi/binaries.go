package kubeapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mainModule is the module whose go.mod marks the repository root.
const mainModule = "github.com/svcproxy/svcproxy"

// CacheEnv names the environment variable that overrides where the built
// binaries are kept, so CI can point it at a directory it caches.
const CacheEnv = "SVCPROXY_TEST_CACHE"

const (
	etcdBinary      = "etcd"
	apiserverBinary = "kube-apiserver"
	// hashFile records which test/tools go.mod/go.sum the binaries were
	// built from; it is written last, so its presence means a whole build.
	hashFile = "tools.hash"
	// maxBuild bounds a build so that a wedged toolchain fails the test
	// instead of holding the cache lock until the test binary is killed.
	maxBuild = 30 * time.Minute
)

// built remembers the binaries once found, so tests in one package do not
// re-hash and re-check the cache each time.
var built struct {
	sync.Mutex
	etcd, apiserver string
}

// Binaries builds (or reuses from a cache directory) etcd and
// kube-apiserver, returning their paths. The cache is $SVCPROXY_TEST_CACHE,
// or svcproxy-test-bin under the user cache directory, and is rebuilt only
// when the binaries are missing or test/tools/go.mod or go.sum changed.
func Binaries(t testing.TB) (etcd, apiserver string) {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.etcd != "" {
		return built.etcd, built.apiserver
	}
	toolsDir, err := toolsDir()
	if err != nil {
		t.Fatalf("finding test/tools: %v", err)
	}
	cache, err := cacheDir()
	if err != nil {
		t.Fatalf("choosing the binary cache: %v", err)
	}
	sum, err := toolsHash(toolsDir)
	if err != nil {
		t.Fatalf("hashing test/tools: %v", err)
	}
	if !upToDate(cache, sum) {
		if err := buildLocked(t, toolsDir, cache, sum); err != nil {
			t.Fatalf("building etcd and kube-apiserver: %v", err)
		}
	}
	built.etcd = filepath.Join(cache, etcdBinary)
	built.apiserver = filepath.Join(cache, apiserverBinary)
	return built.etcd, built.apiserver
}

// cacheDir returns the binary cache directory, creating it.
func cacheDir() (string, error) {
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

// toolsDir finds test/tools by walking up from the working directory to
// the main module's go.mod; go test runs each package in its own
// directory, so this works from anywhere in the repository.
func toolsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting the working directory: %w", err)
	}
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return filepath.Join(dir, "test", "tools"), nil
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

// toolsHash identifies the dependency versions the binaries come from.
// go.mod is hashed with go.sum because a replace line can change a build
// without necessarily changing go.sum.
func toolsHash(toolsDir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(toolsDir, name))
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upToDate reports whether cache holds both binaries built from sum.
func upToDate(cache, sum string) bool {
	got, err := os.ReadFile(filepath.Join(cache, hashFile))
	if err != nil || strings.TrimSpace(string(got)) != sum {
		return false
	}
	for _, name := range []string{etcdBinary, apiserverBinary} {
		if fi, err := os.Stat(filepath.Join(cache, name)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// buildLocked builds under an exclusive flock on the cache, so parallel
// test processes (go test ./... or CI jobs sharing a cache) build once.
// The kernel drops a flock when its holder exits, so a killed test can
// never leave the cache locked.
func buildLocked(t testing.TB, toolsDir, cache, sum string) error {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(cache, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("opening the build lock: %w", err)
	}
	defer lock.Close()
	if err := waitForLock(t, lock); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if upToDate(cache, sum) {
		t.Logf("another process built the binaries in %s", cache)
		return nil
	}
	return build(t, toolsDir, cache, sum)
}

// waitForLock takes the flock, logging while another process holds it and
// giving up after maxBuild rather than waiting forever.
func waitForLock(t testing.TB, lock *os.File) error {
	t.Helper()
	start := time.Now()
	logged := time.Time{}
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("locking %s: %w", lock.Name(), err)
		}
		if time.Since(start) > maxBuild {
			return fmt.Errorf("another process has held %s for over %v", lock.Name(), maxBuild)
		}
		if time.Since(logged) > 30*time.Second {
			t.Logf("waiting for another process building into %s (%v so far)", filepath.Dir(lock.Name()), time.Since(start).Round(time.Second))
			logged = time.Now()
		}
		time.Sleep(time.Second)
	}
}

// build compiles both binaries into a scratch directory and renames them
// into the cache, writing the hash last so a half-finished build is never
// mistaken for a whole one.
func build(t testing.TB, toolsDir, cache, sum string) error {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("finding the go command: %w", err)
	}
	scratch, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return fmt.Errorf("creating a scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	_ = os.Remove(filepath.Join(cache, hashFile))

	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout(t))
	defer cancel()
	for _, b := range []struct{ name, pkg string }{
		{apiserverBinary, "k8s.io/kubernetes/cmd/kube-apiserver"},
		{etcdBinary, "./etcd"},
	} {
		if err := goBuild(ctx, t, goBin, toolsDir, filepath.Join(scratch, b.name), b.pkg); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(scratch, b.name), filepath.Join(cache, b.name)); err != nil {
			return fmt.Errorf("installing %s: %w", b.name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(scratch, hashFile), []byte(sum+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the build hash: %w", err)
	}
	if err := os.Rename(filepath.Join(scratch, hashFile), filepath.Join(cache, hashFile)); err != nil {
		return fmt.Errorf("installing the build hash: %w", err)
	}
	return nil
}

// buildTimeout stops the build shortly before the test deadline, so a slow
// first build fails with a useful message instead of go test's panic.
func buildTimeout(t testing.TB) time.Duration {
	timeout := maxBuild
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok && time.Until(deadline)-30*time.Second < timeout {
			timeout = time.Until(deadline) - 30*time.Second
		}
	}
	return max(timeout, time.Second)
}

// goBuild runs one go build in the tools module, logging progress because
// the first kube-apiserver build takes minutes.
func goBuild(ctx context.Context, t testing.TB, goBin, dir, out, pkg string) error {
	t.Helper()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = dir
	// GOWORK=off keeps a go.work elsewhere from pulling the tools module
	// into a workspace whose versions it was not tidied against.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output

	t.Logf("building %s in %s (the first build takes several minutes)", pkg, dir)
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
				t.Logf("still building %s (%v)", pkg, time.Since(start).Round(time.Second))
			}
		}
	}()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("go build %s: stopped after %v; the first build can take over 10 minutes, so raise go test -timeout: %w",
				pkg, time.Since(start).Round(time.Second), ctx.Err())
		}
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, output.String())
	}
	t.Logf("built %s in %v", pkg, time.Since(start).Round(time.Second))
	return nil
}
