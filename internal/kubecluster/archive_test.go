package kubecluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
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

// digest is the hex SHA-256 of data.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestImageArchiveIsConsistent checks the references an importer
// follows: the manifest names the config and the layer by their digests,
// the config's diff ID is the layer's digest, and the layer holds the
// files.
func TestImageArchiveIsConsistent(t *testing.T) {
	var buf bytes.Buffer
	files := []imageFile{{Name: "pause", Mode: 0o755, Data: []byte("binary")}}
	if err := writeImageArchive(&buf, "svcproxy.test/x:1", []string{"/pause"}, files); err != nil {
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
	if m.Config != digest(config)+".json" {
		t.Errorf("config is named %s, its digest is %s", m.Config, digest(config))
	}
	if m.Layers[0] != digest(layer)+"/layer.tar" {
		t.Errorf("layer is named %s, its digest is %s", m.Layers[0], digest(layer))
	}
	var cfg imageConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatalf("decoding the config: %v", err)
	}
	if diff := cmp.Diff([]string{"sha256:" + digest(layer)}, cfg.RootFS.DiffIDs); diff != "" {
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
	files := []imageFile{{Name: "pause", Mode: 0o755, Data: []byte("binary")}}
	for _, buf := range []*bytes.Buffer{&a, &b} {
		if err := writeImageArchive(buf, PauseImage, []string{"/pause"}, files); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of the same files differ")
	}
}
