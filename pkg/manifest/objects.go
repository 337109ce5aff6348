// Package manifest reads cluster state — Services, EndpointSlices and Nodes —
// from Kubernetes manifests: YAML or JSON files, multi-document streams and
// v1 Lists such as `kubectl get svc,endpointslices,nodes -A -o yaml` prints.
//
// Bad input does not stop the load: a document that cannot be parsed, or
// a Service, EndpointSlice, Node or ServiceCIDR with a field of the wrong
// type, is skipped with a Warning naming the file, the document and the
// field, and everything else is read. Objects of other kinds are skipped
// with a Warning, and unknown fields of the kinds used are reported as
// Warnings too. Only failing to read a file is an error.
package manifest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Objects is what a set of manifests holds, each kind in the order the
// objects appear: files in lexical order, documents and List items in file
// order.
type Objects struct {
	Services       []*v1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Nodes          []*v1.Node
	ServiceCIDRs   []*networkingv1.ServiceCIDR
}

// StdinPath is the path LoadPath reads from its stdin argument.
const StdinPath = "-"

// stdinName names standard input in errors and warnings.
const stdinName = "stdin"

// manifestExtensions are the file name extensions LoadPath reads in a
// directory, compared in lower case.
var manifestExtensions = []string{".yaml", ".yml", ".json"}

// LoadPath reads the manifests at path: a file (whatever its name), a
// directory (every *.yaml, *.yml and *.json file in it and its
// subdirectories, in lexical order of their paths) or StdinPath ("-"),
// which reads stdin.
func LoadPath(path string, stdin io.Reader) (*Objects, []Warning, error) {
	if path == StdinPath {
		if stdin == nil {
			return nil, nil, fmt.Errorf("reading %s: no standard input", stdinName)
		}
		return Load(stdinName, stdin)
	}
	files, err := manifestFiles(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifests: %w", err)
	}
	d := newDecoder()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("reading manifests: %w", err)
		}
		d.decodeStream(file, data)
	}
	if len(files) == 0 {
		d.warns = append(d.warns, Warning{File: path, Reason: "no *.yaml, *.yml or *.json files found"})
	}
	return d.objs, d.warns, nil
}

// Load reads one stream of manifests from r; name names it in errors and
// warnings.
func Load(name string, r io.Reader) (*Objects, []Warning, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	d := newDecoder()
	d.decodeStream(name, data)
	return d.objs, d.warns, nil
}

// manifestFiles returns path itself when it is not a directory, else the
// manifest files under it, sorted.
func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isManifestName(d.Name()) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// WalkDir visits "a/x.yaml" before "a.yaml"; sort so that the order is
	// the lexical order of the paths, as documented.
	slices.Sort(files)
	return files, nil
}

func isManifestName(name string) bool {
	return slices.Contains(manifestExtensions, strings.ToLower(filepath.Ext(name)))
}
