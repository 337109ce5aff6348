package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	"github.com/svcproxy/svcproxy/internal/kubecluster"
	"github.com/svcproxy/svcproxy/internal/rootfs"
)

// The images the takeover imports. The tags are under the reserved .test
// domain, as a registry would be named in deploy/svcproxy.yaml.
const (
	svcproxyImage  = "svcproxy.test/svcproxy:dev"
	kubeProxyImage = "svcproxy.test/kube-proxy:dev"
)

// images are the root filesystem and binaries the images are made of,
// built once per test binary.
type images struct {
	spec      rootfs.Spec // of the repository's Containerfile
	base      string      // the root filesystem tar of spec
	svcproxy  string      // the binary, built as the Containerfile builds it
	kubeProxy string
}

// buildImages reads the Containerfile, bootstraps its root filesystem
// (cached beside the binaries) and builds svcproxy and kube-proxy.
func buildImages(ctx context.Context, t *testing.T) images {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var img images
	if img.spec, err = rootfs.ParseContainerfile(f); err != nil {
		t.Fatalf("reading the Containerfile: %v", err)
	}
	cache, err := kubeapi.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if img.base, err = rootfs.Build(ctx, t.Logf, cache, img.spec); err != nil {
		t.Fatalf("building the image's root filesystem: %v", err)
	}
	img.svcproxy = filepath.Join(t.TempDir(), "svcproxy")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s", "-o", img.svcproxy, "./cmd/svcproxy")
	build.Dir, build.Env = repoRoot(t), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building svcproxy: %v\n%s", err, out)
	}
	bins, err := kubeapi.Build(ctx, t.Logf, kubeapi.KubeProxy)
	if err != nil {
		t.Fatal(err)
	}
	img.kubeProxy = bins[kubeapi.KubeProxy]
	return img
}

// importSvcproxy imports svcproxy's image: the Containerfile's root
// filesystem, binary path and entrypoint.
func (img images) importSvcproxy(ctx context.Context, t *testing.T, c *kubecluster.Cluster) {
	t.Helper()
	bin := readFile(t, img.svcproxy)
	err := c.ImportImage(ctx, kubecluster.Image{
		Tag: svcproxyImage, Base: img.base, Entrypoint: img.spec.Entrypoint,
		Files: []kubecluster.ImageFile{{Name: "usr/local/bin/svcproxy", Mode: 0o755, Data: bin}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// importKubeProxy imports an image of kube-proxy on the same root
// filesystem. Upstream's image picks its iptables variant with a wrapper
// script that looks at the host's rules; this one has a directory of
// links for each variant, which the DaemonSet puts first on PATH.
func (img images) importKubeProxy(ctx context.Context, t *testing.T, c *kubecluster.Cluster) {
	t.Helper()
	files := []kubecluster.ImageFile{{Name: "usr/local/bin/kube-proxy", Mode: 0o755, Data: readFile(t, img.kubeProxy)}}
	for _, variant := range []string{kubecluster.IPTablesLegacy, kubecluster.IPTablesNFT} {
		for _, name := range kubecluster.IPTablesCommands {
			files = append(files, kubecluster.ImageFile{
				Name: "opt/iptables-" + variant + "/" + name, Mode: 0o777,
				Link: "/usr/sbin/" + kubecluster.VariantCommand(name, variant),
			})
		}
	}
	err := c.ImportImage(ctx, kubecluster.Image{
		Tag: kubeProxyImage, Base: img.base, Entrypoint: []string{"/usr/local/bin/kube-proxy"}, Files: files,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// repoRoot is the repository root, two directories up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
