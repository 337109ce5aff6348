package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// svcproxyBinary builds the svcproxy binary once per test run. Tests that
// touch the kernel run the real binary inside a namespace, so that all of
// it, down to the commands it runs, works there and nowhere else.
func svcproxyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		// Not t.TempDir: the binary outlives the test that built it.
		if buildDir, buildErr = os.MkdirTemp("", "svcproxy-test-bin-"); buildErr == nil {
			buildOut, buildErr = exec.Command("go", "build", "-o", filepath.Join(buildDir, "svcproxy"), ".").CombinedOutput()
		}
	})
	if buildErr != nil {
		t.Fatalf("building svcproxy: %v: %s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "svcproxy")
}

// TestMain removes the shared binary after all tests have run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
