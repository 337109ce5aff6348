package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/internal/testnet"
)

// TestRunHeldXtablesLock holds the xtables lock for 15 s while a Service
// is created: each sync gives up on the lock after 5 s, as kube-proxy's
// do, is counted as a failure, and is retried with backoff; once the
// lock is free the Service is served. A private lock file keeps the
// host's own lock out of it.
func TestRunHeldXtablesLock(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "xtables.lock")
	c := newCluster(t, "iptables-legacy", "XTABLES_LOCKFILE="+lock)
	c.createService(t, service("web", "10.0.0.60", 80, v1.ProtocolTCP), slice("web", v1.ProtocolTCP, echoPort, ready(podA)...))
	eventually(t, syncBudget, "first Service", c.reaches(testnet.TCP, "10.0.0.60:80", 5, podA))

	holder := exec.Command("flock", "-x", lock, "sleep", "15")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() })
	time.Sleep(500 * time.Millisecond) // flock has the lock
	before := c.failures(t)
	c.createService(t, service("db", "10.0.0.61", 80, v1.ProtocolTCP), slice("db", v1.ProtocolTCP, echoPort, ready(podB)...))
	eventually(t, 12*time.Second, "a failed sync counted", func() error {
		if n := c.failures(t); n <= before {
			return fmt.Errorf("sync failures %v, before %v", n, before)
		}
		return nil
	})
	if err := c.reaches(testnet.TCP, "10.0.0.60:80", 5, podA)(); err != nil {
		t.Errorf("while the lock is held the rules in place must keep working: %v", err)
	}
	eventually(t, 40*time.Second, "the new Service once the lock is free", c.reaches(testnet.TCP, "10.0.0.61:80", 5, podB))
}

// failures returns svcproxy_sync_failures_total, over every kind.
func (c *cluster) failures(t *testing.T) float64 {
	t.Helper()
	_, body, err := httpGet(c.topo.Node, "http://127.0.0.1:10249/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "svcproxy_sync_failures_total{") {
			f, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			n += f
		}
	}
	return n
}
