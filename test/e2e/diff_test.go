package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/internal/testnet"
)

// TestDiffAgainstAPIServer runs svcproxy diff --live against the API
// server on a node svcproxy run keeps: the rules run applied are the
// ones diff computes, as run would, from the same objects. With run
// stopped, a Service created since is reported as missing from the
// kernel, with exit status 1.
func TestDiffAgainstAPIServer(t *testing.T) {
	c := newCluster(t, "auto")
	c.createService(t, service("web", "10.0.0.70", 80, v1.ProtocolTCP), slice("web", v1.ProtocolTCP, echoPort, ready(podA, podB)...))
	eventually(t, syncBudget, "Service", c.reaches(testnet.TCP, "10.0.0.70:80", 10, podA, podB))
	diff := func() (string, error) {
		return c.topo.Node.Run(nil, svcproxyBin, "diff", "--live", "--kubeconfig", c.api.Kubeconfig,
			"--hostname-override", "node-a", "--cluster-cidr", "10.1.0.0/16")
	}
	if out, err := diff(); err != nil {
		t.Fatalf("diff --live of what run applied: %v\n%s", err, out)
	}
	c.stopProxy(t)
	c.createService(t, service("db", "10.0.0.71", 80, v1.ProtocolTCP), slice("db", v1.ProtocolTCP, echoPort, ready(podC)...))
	out, err := diff()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("diff --live with a Service run never saw: %v, want exit status 1", err)
	}
	if !strings.Contains(out, ns+"/db:p: only in the first") {
		t.Errorf("diff --live says:\n%s\nwant the new Service reported missing from the kernel", out)
	}
}
