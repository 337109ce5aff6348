package kubecluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"
)

// imageFile is one file of an image's only layer.
type imageFile struct {
	Name string // path inside the image, without a leading slash
	Mode int64
	Data []byte
}

// archiveManifest is one entry of a docker-archive's manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// imageConfig is the part of an OCI image configuration that a container
// runtime reads to start the image.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint []string `json:"Entrypoint"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// epoch is the time stamp of every entry, so that the same files give a
// byte-identical archive.
var epoch = time.Unix(0, 0)

// writeImageArchive writes a docker-archive (the format of docker save,
// which ctr images import reads) holding one image tagged tag: one layer
// of files, run as entrypoint.
func writeImageArchive(w io.Writer, tag string, entrypoint []string, files []imageFile) error {
	layer, err := tarOf(files)
	if err != nil {
		return fmt.Errorf("writing the layer: %w", err)
	}
	layerSum := sha256.Sum256(layer)
	layerHex := hex.EncodeToString(layerSum[:])
	var cfg imageConfig
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Config.Entrypoint = entrypoint
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{"sha256:" + layerHex}
	config, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding the image configuration: %w", err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := layerHex + "/layer.tar"
	manifest, err := json.Marshal([]archiveManifest{{Config: configName, RepoTags: []string{tag}, Layers: []string{layerName}}})
	if err != nil {
		return fmt.Errorf("encoding the archive manifest: %w", err)
	}
	archive, err := tarOf([]imageFile{
		{Name: configName, Mode: 0o644, Data: config},
		{Name: layerName, Mode: 0o644, Data: layer},
		{Name: "manifest.json", Mode: 0o644, Data: manifest},
	})
	if err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	_, err = w.Write(archive)
	return err
}

// tarOf returns a tar stream of files, in the order given.
func tarOf(files []imageFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("adding %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("adding %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the tar stream: %w", err)
	}
	return buf.Bytes(), nil
}
