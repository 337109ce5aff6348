package kubecluster

import (
	"fmt"
	"path/filepath"

	"github.com/svcproxy/svcproxy/internal/daemon"
)

// LogTails returns the end of every log of the cluster, to explain a
// failure.
func (c *Cluster) LogTails() string {
	var out string
	if c.API != nil {
		out = c.API.LogTails()
	}
	for _, d := range []*daemon.Daemon{c.containerd, c.kubelet, c.controller, c.scheduler} {
		if d != nil {
			out += fmt.Sprintf("last lines of %s:\n%s\n", filepath.Base(d.Log), daemon.LogTail(d.Log, 40))
		}
	}
	return out
}
