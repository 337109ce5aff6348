package kubecluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// PauseImage is the tag of the locally built pause image: every pod's
// sandbox, and a container that does nothing for pods that need one. The
// .test domain is reserved, so the tag can never name a real registry.
const PauseImage = "svcproxy.test/pause:1"

// pausePackage is the program inside PauseImage.
const pausePackage = "github.com/svcproxy/svcproxy/internal/kubecluster/pause"

// importPauseImage builds the pause program statically, packs it as a
// docker-archive and imports it into the node's containerd.
func (c *Cluster) importPauseImage(ctx context.Context) error {
	bin := filepath.Join(c.dir, "pause")
	if err := buildStatic(ctx, pausePackage, bin); err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the pause binary: %w", err)
	}
	var archive bytes.Buffer
	files := []imageFile{{Name: "pause", Mode: 0o755, Data: data}}
	if err := writeImageArchive(&archive, PauseImage, []string{"/pause"}, files); err != nil {
		return fmt.Errorf("packing the pause image: %w", err)
	}
	path := filepath.Join(c.dir, "pause.tar")
	if err := os.WriteFile(path, archive.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := c.ctr(ctx, "images", "import", path); err != nil {
		return fmt.Errorf("importing the pause image: %w", err)
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
