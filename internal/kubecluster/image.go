package kubecluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The images Start imports, the only ones the node has. Their tags are
// under the reserved .test domain, so they can never name a real
// registry; pods use them with imagePullPolicy Never (or IfNotPresent).
const (
	// PauseImage is every pod's sandbox, and a container that does nothing
	// for pods that need one.
	PauseImage = "svcproxy.test/pause:1"
	// EchoImage serves TCP on EchoPort, answering each connection with one
	// line, "<server addr:port> <client addr:port>", and closing it.
	EchoImage = "svcproxy.test/echo:1"
)

// EchoPort is the TCP port EchoImage serves.
const EchoPort = 8080

// image is a locally built image: one static Go program, run as its
// entrypoint.
type image struct {
	tag string
	pkg string // the program, a package of this module
}

// images are the images Start imports.
var images = []image{
	{PauseImage, "github.com/svcproxy/svcproxy/internal/kubecluster/pause"},
	{EchoImage, "github.com/svcproxy/svcproxy/internal/kubecluster/echo"},
}

// importImages imports every image of images into the node's containerd.
func (c *Cluster) importImages(ctx context.Context) error {
	dir, err := c.mkdir("images")
	if err != nil {
		return err
	}
	for _, img := range images {
		if err := c.importImage(ctx, dir, img); err != nil {
			return fmt.Errorf("importing %s: %w", img.tag, err)
		}
	}
	return nil
}

// importImage builds the image's program statically and imports it as
// the image's only file.
func (c *Cluster) importImage(ctx context.Context, dir string, img image) error {
	name := filepath.Base(img.pkg)
	bin := filepath.Join(dir, name)
	if err := buildStatic(ctx, img.pkg, bin); err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the program: %w", err)
	}
	return c.ImportImage(ctx, Image{Tag: img.tag, Entrypoint: []string{"/" + name}, Files: []ImageFile{{Name: name, Mode: 0o755, Data: data}}})
}

// ImportImage packs img as a docker-archive in the cluster's directory
// and imports it into the node's containerd, where pods can use it with
// imagePullPolicy Never or IfNotPresent.
func (c *Cluster) ImportImage(ctx context.Context, img Image) error {
	dir, err := c.mkdir("images")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "image-*.tar")
	if err != nil {
		return fmt.Errorf("creating the archive of %s: %w", img.Tag, err)
	}
	defer os.Remove(f.Name())
	err = writeImageArchive(f, img)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("packing %s: %w", img.Tag, err)
	}
	if _, err := c.ctr(ctx, "images", "import", f.Name()); err != nil {
		return fmt.Errorf("importing %s: %w", img.Tag, err)
	}
	return nil
}

// buildStatic builds a Go package of this module into out as a static
// binary, which an image of nothing else can run.
func buildStatic(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, output)
	}
	return nil
}

// TagImage gives the imported image src a second name, dst, as pods may
// ask for the same image by several.
func (c *Cluster) TagImage(ctx context.Context, src, dst string) error {
	if _, err := c.ctr(ctx, "images", "tag", src, dst); err != nil {
		return fmt.Errorf("tagging %s as %s: %w", src, dst, err)
	}
	return nil
}
