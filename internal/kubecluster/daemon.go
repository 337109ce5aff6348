package kubecluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/svcproxy/svcproxy/internal/daemon"
	"github.com/svcproxy/svcproxy/internal/kubeapi"
)

// IPTables variants a node's host can use (Options.IPTables).
const (
	IPTablesNFT    = "nft"
	IPTablesLegacy = "legacy"
)

// IPTablesCommands are the commands whose variant Options.IPTables
// picks.
var IPTablesCommands = []string{
	"iptables", "iptables-save", "iptables-restore",
	"ip6tables", "ip6tables-save", "ip6tables-restore",
}

// systemPath follows, in every node process's PATH, the directory of
// links that makes `iptables` the host's chosen variant.
const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// linkIPTables fills dir with links from every iptables command to its
// variant's binary (iptables-legacy-save, say), as Debian's alternatives
// would, but for the node's processes only.
func linkIPTables(dir, variant string) error {
	if variant != IPTablesNFT && variant != IPTablesLegacy {
		return fmt.Errorf("iptables variant %q: want %q or %q", variant, IPTablesNFT, IPTablesLegacy)
	}
	for _, name := range IPTablesCommands {
		target := "/usr/sbin/" + VariantCommand(name, variant)
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("iptables variant %s: %w", variant, err)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("linking %s: %w", name, err)
		}
	}
	return nil
}

// VariantCommand names the binary of an iptables command in a variant,
// as Debian installs them: iptables-save of legacy is
// iptables-legacy-save.
func VariantCommand(name, variant string) string {
	base, rest, _ := strings.Cut(name, "-")
	if rest != "" {
		rest = "-" + rest
	}
	return base + "-" + variant + rest
}

// startDaemon runs bin with args in the node's namespaces, with the
// node's PATH: a node process (containerd, the kubelet, a controller),
// its output appended to logPath.
func (c *Cluster) startDaemon(name, logPath, bin string, args ...string) (*daemon.Daemon, error) {
	prefix := append(c.holder.prefix(), "env", "PATH="+c.path())
	return daemon.Start(name, logPath, prefix, bin, args...)
}

// path is the node processes' PATH.
func (c *Cluster) path() string {
	return c.iptablesDir + ":" + systemPath
}

// Command returns a command that runs name with args on the node, in
// dir: in its namespaces, with its PATH (the host's iptables variant, and
// kubectl), and KUBECONFIG set to the admin's kubeconfig, so that a test
// runs what an operator would type on the node. It changes to dir once
// inside the mount namespace (env -C): a directory entered before it,
// as nsenter --wd does, is unreachable from there, and getcwd fails.
func (c *Cluster) Command(dir, name string, args ...string) *exec.Cmd {
	cmd := c.holder.command("env", append([]string{"-C", dir, name}, args...)...)
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(c.bins[kubeapi.Kubectl])+":"+c.path(),
		"KUBECONFIG="+c.API.Kubeconfig)
	return cmd
}
