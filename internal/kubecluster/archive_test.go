package kubecluster

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readTar returns the files of a tar stream by name.
func readTar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("reading the tar stream: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		files[hdr.Name] = body
	}
}

// TestImageArchiveIsConsistent checks the references an importer
// follows: the manifest names the config and the layer by their digests,
// the config's diff ID is the layer's digest, and the layer holds the
// files.
func TestImageArchiveIsConsistent(t *testing.T) {
	var buf bytes.Buffer
	files := []ImageFile{{Name: "pause", Mode: 0o755, Data: []byte("binary")}}
	if err := writeImageArchive(&buf, Image{Tag: "svcproxy.test/x:1", Entrypoint: []string{"/pause"}, Files: files}); err != nil {
		t.Fatal(err)
	}
	archive := readTar(t, buf.Bytes())
	var manifest []archiveManifest
	if err := json.Unmarshal(archive["manifest.json"], &manifest); err != nil {
		t.Fatalf("decoding manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest %+v: want one image of one layer", manifest)
	}
	m := manifest[0]
	if diff := cmp.Diff([]string{"svcproxy.test/x:1"}, m.RepoTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	config, layer := archive[m.Config], archive[m.Layers[0]]
	if m.Config != digestOf(config)+".json" {
		t.Errorf("config is named %s, its digest is %s", m.Config, digestOf(config))
	}
	if m.Layers[0] != digestOf(layer)+"/layer.tar" {
		t.Errorf("layer is named %s, its digest is %s", m.Layers[0], digestOf(layer))
	}
	var cfg imageConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatalf("decoding the config: %v", err)
	}
	if diff := cmp.Diff([]string{"sha256:" + digestOf(layer)}, cfg.RootFS.DiffIDs); diff != "" {
		t.Errorf("diff IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/pause"}, cfg.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if got := string(readTar(t, layer)["pause"]); got != "binary" {
		t.Errorf("layer's pause is %q, want %q", got, "binary")
	}
}

// TestImageArchiveIsDeterministic checks that the same files give the
// same bytes, so the image's digest does not change between runs.
func TestImageArchiveIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	files := []ImageFile{{Name: "pause", Mode: 0o755, Data: []byte("binary")}}
	for _, buf := range []*bytes.Buffer{&a, &b} {
		if err := writeImageArchive(buf, Image{Tag: PauseImage, Entrypoint: []string{"/pause"}, Files: files}); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of the same files differ")
	}
}

// TestImageArchiveStacksTheBase checks that an image with a base has two
// layers, the base first and byte for byte, and that a link in the top
// layer is a symbolic link.
func TestImageArchiveStacksTheBase(t *testing.T) {
	base, err := tarOf([]ImageFile{{Name: "usr/sbin/nft", Mode: 0o755, Data: []byte("nft")}})
	if err != nil {
		t.Fatal(err)
	}
	basePath := filepath.Join(t.TempDir(), "base.tar")
	if err := os.WriteFile(basePath, base, 0o644); err != nil {
		t.Fatal(err)
	}
	img := Image{Tag: "svcproxy.test/x:1", Base: basePath, Entrypoint: []string{"/x"}, Env: []string{"PATH=/opt/bin"},
		Files: []ImageFile{{Name: "opt/bin/nft", Mode: 0o777, Link: "/usr/sbin/nft"}}}
	var buf bytes.Buffer
	if err := writeImageArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	archive := readTar(t, buf.Bytes())
	var manifest []archiveManifest
	if err := json.Unmarshal(archive["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json %s: %v", archive["manifest.json"], err)
	}
	layers := manifest[0].Layers
	if len(layers) != 2 || !bytes.Equal(archive[layers[0]], base) {
		t.Fatalf("layers %v: want the base, then the top", layers)
	}
	var cfg imageConfig
	if err := json.Unmarshal(archive[manifest[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256:" + digestOf(base), "sha256:" + digestOf(archive[layers[1]])}
	if diff := cmp.Diff(want, cfg.RootFS.DiffIDs); diff != "" {
		t.Errorf("diff IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(img.Env, cfg.Config.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	hdr, err := tar.NewReader(bytes.NewReader(archive[layers[1]])).Next()
	if err != nil || hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "/usr/sbin/nft" {
		t.Errorf("top layer's first entry %+v (%v): want a link to /usr/sbin/nft", hdr, err)
	}
}
