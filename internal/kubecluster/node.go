package kubecluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/daemon"
	"github.com/svcproxy/svcproxy/internal/kubeapi"
)

// nodeReadyTimeout bounds the wait for the node to be Ready, which takes
// about 8 s once the kubelet runs.
const nodeReadyTimeout = 2 * time.Minute

// startContainerd writes containerd's and the CNI configuration, starts
// containerd and waits until it answers.
func (c *Cluster) startContainerd(ctx context.Context) error {
	dir, err := c.mkdir("containerd")
	if err != nil {
		return err
	}
	confDir, err := c.mkdir("cni", "net.d")
	if err != nil {
		return err
	}
	ipamDir, err := c.mkdir("cni", "ipam")
	if err != nil {
		return err
	}
	if err := writeCNIConfig(confDir, ipamDir, PodCIDR); err != nil {
		return err
	}
	c.containerdSocket = filepath.Join(dir, "containerd.sock")
	// containerd also listens on the path with ".ttrpc" appended; a unix
	// socket's path has at most 107 bytes.
	if n := len(c.containerdSocket + ".ttrpc"); n > 107 {
		return fmt.Errorf("containerd's socket %s.ttrpc has %d bytes, more than a unix socket's 107: give the cluster a shorter directory", c.containerdSocket, n)
	}
	config, err := writeContainerdConfig(dir, containerdParams{
		Dir: dir, Socket: c.containerdSocket, PauseImage: PauseImage,
		Runc: "/usr/sbin/runc", CNIBinDir: cniBinDir, CNIConfDir: confDir,
	})
	if err != nil {
		return err
	}
	if c.containerd, err = c.startDaemon("containerd", filepath.Join(dir, "containerd.log"), "containerd", "--config", config); err != nil {
		return err
	}
	return c.waitForContainerd(ctx)
}

// startKubelet gives the kubelet its own identity, system:node:NodeName,
// so that the Node authorizer admits it, and starts it.
func (c *Cluster) startKubelet(context.Context) error {
	dir, err := c.mkdir("kubelet")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "manifests"), 0o755); err != nil {
		return fmt.Errorf("creating the static pod directory: %w", err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := c.API.WriteKubeconfig(kubeconfig, "system:node:"+NodeName, "system:nodes"); err != nil {
		return err
	}
	config, err := writeKubeletConfig(kubeletParams{
		Dir: dir, CAFile: c.API.CAFile(), Socket: c.containerdSocket, CgroupRoot: c.cgroupRoot,
	})
	if err != nil {
		return err
	}
	c.kubelet, err = c.startDaemon("kubelet", filepath.Join(dir, "kubelet.log"), c.bins[kubeapi.Kubelet], kubeletArgs(dir, config, kubeconfig)...)
	return err
}

// startControllers starts kube-controller-manager and kube-scheduler.
func (c *Cluster) startControllers(context.Context) error {
	dir, err := c.mkdir("controllers")
	if err != nil {
		return err
	}
	kcmArgs := controllerManagerArgs(dir, c.API.Kubeconfig, c.API.CAFile(), c.API.ServiceAccountKeyFile())
	if c.controller, err = c.startDaemon("kube-controller-manager", filepath.Join(dir, "kube-controller-manager.log"), c.bins[kubeapi.ControllerManager], kcmArgs...); err != nil {
		return err
	}
	c.scheduler, err = c.startDaemon("kube-scheduler", filepath.Join(dir, "kube-scheduler.log"), c.bins[kubeapi.Scheduler], schedulerArgs(c.API.Kubeconfig)...)
	return err
}

// waitForNode waits until the node has registered and is Ready, which
// needs containerd's CNI network to be up.
func (c *Cluster) waitForNode(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.API.Config)
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	daemons := []*daemon.Daemon{c.containerd, c.kubelet, c.controller, c.scheduler}
	return poll(ctx, nodeReadyTimeout, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == v1.NodeReady && cond.Status == v1.ConditionTrue {
				return nil
			}
			if cond.Type == v1.NodeReady {
				return fmt.Errorf("node %s not Ready: %s: %s", NodeName, cond.Reason, cond.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", NodeName)
	}, daemons...)
}

// poll calls check until it succeeds, one of the daemons exits, timeout
// passes or ctx ends, returning the last error so the failure says what
// was still wrong. A daemon that has exited will not make check succeed,
// so waiting on would only delay the failure.
func poll(ctx context.Context, timeout time.Duration, check func() error, daemons ...*daemon.Daemon) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, d := range daemons {
			if done, exitErr := d.Exited(); done {
				return fmt.Errorf("%s exited (%v, see %s); last check: %w", d.Name, exitErr, d.Log, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last check: %w", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
