package kubecluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// LogTails returns the end of every log of the cluster, to explain a
// failure.
func (c *Cluster) LogTails() string {
	var out string
	if c.API != nil {
		out = c.API.LogTails()
	}
	for _, d := range []*daemon{c.containerd, c.kubelet, c.controller, c.scheduler} {
		if d != nil {
			out += fmt.Sprintf("last lines of %s:\n%s\n", filepath.Base(d.log), logTail(d.log, 40))
		}
	}
	return out
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
