package kubecluster

import (
	"github.com/svcproxy/svcproxy/internal/daemon"
)

// startDaemon runs bin with args in h's namespaces: a node process
// (containerd, the kubelet, a controller), its output appended to
// logPath.
func startDaemon(h *holder, name, logPath, bin string, args ...string) (*daemon.Daemon, error) {
	return daemon.Start(name, logPath, h.prefix(), bin, args...)
}
