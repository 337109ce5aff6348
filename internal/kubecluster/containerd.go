package kubecluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// criNamespace is the containerd namespace the CRI plugin keeps the
// kubelet's images and containers in.
const criNamespace = "k8s.io"

// containerdConfig is containerd 1.6's configuration (format version 2).
// Every path points into the node's scratch directory.
var containerdConfig = template.Must(template.New("containerd").Parse(`version = 2
root = "{{.Dir}}/root"
state = "{{.Dir}}/state"

[grpc]
  address = "{{.Socket}}"

[ttrpc]
  address = "{{.Socket}}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Dir}}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  # The test process lacks CAP_SYS_RESOURCE, so it may not lower an OOM
  # score below its own; restricting keeps containerd from trying.
  restrict_oom_score_adj = true
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  # Pod network namespaces under the state directory, not /run/netns on
  # the host.
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      # crun fails to start containers in this setup; runc works. The
      # kubelet uses the cgroupfs driver, so runc must as well.
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{{.Runc}}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIBinDir}}"
    conf_dir = "{{.CNIConfDir}}"
`))

// containerdParams fills containerdConfig.
type containerdParams struct {
	Dir, Socket, PauseImage, Runc, CNIBinDir, CNIConfDir string
}

// writeContainerdConfig writes the configuration into dir and returns its
// path.
func writeContainerdConfig(dir string, p containerdParams) (string, error) {
	var b strings.Builder
	if err := containerdConfig.Execute(&b, p); err != nil {
		return "", fmt.Errorf("rendering the containerd configuration: %w", err)
	}
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// ctr runs containerd's client against the node's containerd, in the CRI
// namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--address", c.containerdSocket, "--namespace", criNamespace}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// waitForContainerd waits until containerd answers on its socket.
func (c *Cluster) waitForContainerd(ctx context.Context) error {
	return poll(ctx, 30*time.Second, func() error {
		_, err := c.ctr(ctx, "version")
		return err
	}, c.containerd)
}

// killTasks kills and deletes every container task, pod sandboxes
// included, so that their shims exit. It must run while containerd is up
// and after the kubelet is stopped (which would restart them): a shim
// outlives containerd, and killing a shim leaves its container running.
func (c *Cluster) killTasks(ctx context.Context) error {
	tasks, err := c.tasks(ctx)
	if err != nil {
		return err
	}
	for _, id := range tasks {
		// A delete can fail because the task went away meanwhile (a
		// sandbox's end takes its containers' tasks along); what matters
		// is what is still there afterwards.
		_, _ = c.ctr(ctx, "tasks", "delete", "--force", id)
	}
	left, err := c.tasks(ctx)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("deleting container tasks: %s still there", strings.Join(left, ", "))
	}
	return nil
}

// tasks lists the IDs of the container tasks.
func (c *Cluster) tasks(ctx context.Context) ([]string, error) {
	out, err := c.ctr(ctx, "tasks", "list", "--quiet")
	if err != nil {
		return nil, fmt.Errorf("listing container tasks: %w", err)
	}
	return strings.Fields(out), nil
}
