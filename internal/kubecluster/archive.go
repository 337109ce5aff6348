package kubecluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Image is an image a test builds and imports: one layer of Files, over
// an optional base layer such as a root filesystem from internal/rootfs.
type Image struct {
	// Tag names the image; a tag under the .test domain can never name a
	// real registry.
	Tag string
	// Base is the path of a tar of the base layer; "" for none.
	Base string
	// Files make up the top layer.
	Files      []ImageFile
	Entrypoint []string
	// Cmd is the entrypoint's default arguments.
	Cmd []string
	// Env holds the containers' environment, NAME=VALUE, as an image's
	// ENV lines set it.
	Env []string
}

// ImageFile is one file of an image's top layer: a regular file of Data,
// or a symbolic link to Link.
type ImageFile struct {
	Name string // path inside the image, without a leading slash
	Mode int64
	Data []byte
	Link string
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
		Cmd        []string `json:"Cmd,omitempty"`
		Env        []string `json:"Env,omitempty"`
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
// which ctr images import reads) holding img, its base layer copied from
// its file rather than read into memory.
func writeImageArchive(w io.Writer, img Image) error {
	top, err := tarOf(img.Files)
	if err != nil {
		return fmt.Errorf("writing the top layer: %w", err)
	}
	var base *os.File
	var baseDigest string
	if img.Base != "" {
		if base, err = os.Open(img.Base); err != nil {
			return fmt.Errorf("opening the base layer: %w", err)
		}
		defer base.Close()
		if baseDigest, err = fileDigest(base); err != nil {
			return fmt.Errorf("reading the base layer %s: %w", img.Base, err)
		}
	}
	var cfg imageConfig
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.Env = img.Entrypoint, img.Cmd, img.Env
	cfg.RootFS.Type = "layers"
	var layerNames []string
	if base != nil {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, "sha256:"+baseDigest)
		layerNames = append(layerNames, baseDigest+"/layer.tar")
	}
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, "sha256:"+digestOf(top))
	layerNames = append(layerNames, digestOf(top)+"/layer.tar")
	config, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding the image configuration: %w", err)
	}
	configName := digestOf(config) + ".json"
	manifest, err := json.Marshal([]archiveManifest{{Config: configName, RepoTags: []string{img.Tag}, Layers: layerNames}})
	if err != nil {
		return fmt.Errorf("encoding the archive manifest: %w", err)
	}
	tw := tar.NewWriter(w)
	if base != nil {
		if err := addFile(tw, layerNames[0], base); err != nil {
			return err
		}
	}
	for _, f := range []ImageFile{
		{Name: configName, Mode: 0o644, Data: config},
		{Name: layerNames[len(layerNames)-1], Mode: 0o644, Data: top},
		{Name: "manifest.json", Mode: 0o644, Data: manifest},
	} {
		if err := addEntry(tw, f); err != nil {
			return err
		}
	}
	return tw.Close()
}

// digestOf is the hex SHA-256 of data, which names layers and configs.
func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// fileDigest is the hex SHA-256 of f's content, leaving f at its start.
func fileDigest(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// addFile copies f into tw as name.
func addFile(tw *tar.Writer, name string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), ModTime: epoch, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	return nil
}

// addEntry adds one file or symbolic link to tw.
func addEntry(tw *tar.Writer, f ImageFile) error {
	hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch, Typeflag: tar.TypeReg}
	if f.Link != "" {
		hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.Link, 0
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("adding %s: %w", f.Name, err)
	}
	if _, err := tw.Write(f.Data); err != nil {
		return fmt.Errorf("adding %s: %w", f.Name, err)
	}
	return nil
}

// tarOf returns a tar stream of files, in the order given.
func tarOf(files []ImageFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := addEntry(tw, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the tar stream: %w", err)
	}
	return buf.Bytes(), nil
}
