package kubeapi

import (
	"time"

	"github.com/svcproxy/svcproxy/internal/daemon"
	"github.com/svcproxy/svcproxy/internal/netns"
)

// stopGrace is how long a process gets to exit after SIGTERM before it is
// killed; etcd and the apiserver both shut down in well under a second.
const stopGrace = 5 * time.Second

// startProcess runs bin with args inside ns through ip netns exec.
func startProcess(ns *netns.NS, logPath, bin string, args ...string) (*daemon.Daemon, error) {
	return daemon.Start(bin, logPath, ns.Prefix(), bin, args...)
}
