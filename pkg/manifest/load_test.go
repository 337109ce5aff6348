package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// Test address plan (the part of docs/test-addresses.md these tests
// use): cluster IPs from 172.30.0.0/16, pod IPs from 10.1.0.0/16, node
// IPs 192.168.0.10 and up and fd00:192::10 and up, and 198.51.100.10 as
// a node's external address.

const serviceYAML = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 172.30.0.10
  ports:
  - name: http
    port: 80
    targetPort: 8080
`

const sliceYAML = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: [10.1.0.5]
  conditions: {ready: true}
ports:
- name: http
  port: 8080
`

const nodeYAML = `apiVersion: v1
kind: Node
metadata:
  name: node-a
status:
  addresses:
  - {type: InternalIP, address: 192.168.0.10}
`

const podYAML = `apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  containers: [{name: web, image: web}]
`

const serviceJSON = `{
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {"name": "api", "namespace": "shop"},
  "spec": {"ports": [{"port": 443, "protocol": "TCP"}]}
}`

// kubectlList is what `kubectl get svc,endpointslices,nodes,pods -A -o yaml`
// prints, trimmed: a v1 List of mixed kinds, with managedFields.
var kubectlList = `apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
` + indentItem(strings.Replace(serviceYAML, "  namespace: shop\n", `  namespace: shop
  managedFields:
  - manager: kubectl
    operation: Update
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {}}
`, 1)) + indentItem(sliceYAML) + indentItem(podYAML) + indentItem(nodeYAML)

// indentItem turns a YAML object into an item of a block sequence.
func indentItem(obj string) string {
	lines := strings.Split(strings.TrimSuffix(obj, "\n"), "\n")
	for i := range lines {
		prefix := "  "
		if i == 0 {
			prefix = "- "
		}
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// summary lists the objects as "Kind namespace/name", kinds in the order of
// the Objects fields, so that a test sees both what was read and its order.
func summary(objs *Objects) []string {
	if objs == nil {
		return nil
	}
	var out []string
	for _, s := range objs.Services {
		out = append(out, s.Kind+" "+s.Namespace+"/"+s.Name)
	}
	for _, s := range objs.EndpointSlices {
		out = append(out, s.Kind+" "+s.Namespace+"/"+s.Name)
	}
	for _, n := range objs.Nodes {
		out = append(out, n.Kind+" "+n.Name)
	}
	return out
}

func warningStrings(warns []Warning) []string {
	var out []string
	for _, w := range warns {
		out = append(out, w.String())
	}
	return out
}

type loadCase struct {
	name      string
	input     string
	want      []string
	wantWarns []string
}

var loadCases = []loadCase{
	{
		name:  "single YAML object",
		input: serviceYAML,
		want:  []string{"Service shop/web"},
	},
	{
		name:  "single JSON object",
		input: serviceJSON,
		want:  []string{"Service shop/api"},
	},
	{
		name:  "concatenated JSON objects",
		input: serviceJSON + "\n" + strings.Replace(serviceJSON, `"api"`, `"api2"`, 1),
		want:  []string{"Service shop/api", "Service shop/api2"},
	},
	{
		name:  "multi-document YAML",
		input: "---\n" + serviceYAML + "---\n" + sliceYAML + "--- # the node\n" + nodeYAML + "---\n" + strings.Replace(serviceYAML, "web", "db", 1),
		want:  []string{"Service shop/web", "Service shop/db", "EndpointSlice shop/web-abc", "Node node-a"},
	},
	{
		name:  "JSON document in a YAML stream",
		input: serviceYAML + "---\n" + serviceJSON,
		want:  []string{"Service shop/web", "Service shop/api"},
	},
	{
		name:      "kubectl List of mixed kinds",
		input:     kubectlList,
		want:      []string{"Service shop/web", "EndpointSlice shop/web-abc", "Node node-a"},
		wantWarns: []string{"in: document 1: items[2]: Pod shop/web-1: skipped: kind Pod is not used"},
	},
	{
		name: "nested List",
		input: "apiVersion: v1\nkind: List\nitems:\n" + indentItem(serviceYAML) +
			indentItem("apiVersion: v1\nkind: List\nitems:\n"+indentItem(podYAML)+indentItem(nodeYAML)),
		want:      []string{"Service shop/web", "Node node-a"},
		wantWarns: []string{"in: document 1: items[1].items[0]: Pod shop/web-1: skipped: kind Pod is not used"},
	},
	{
		name:  "JSON List",
		input: `{"apiVersion": "v1", "kind": "List", "items": [` + serviceJSON + `, null]}`,
		want:  []string{"Service shop/api"},
	},
	{
		name: "typed lists give their items a kind",
		input: `{"apiVersion": "v1", "kind": "ServiceList", "items": [{"metadata": {"name": "a", "namespace": "ns"}}]}
{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "items": [{"metadata": {"name": "a-1", "namespace": "ns"}, "addressType": "IPv4"}]}
{"apiVersion": "v1", "kind": "NodeList", "items": [{"metadata": {"name": "n"}}]}`,
		want: []string{"Service ns/a", "EndpointSlice ns/a-1", "Node n"},
	},
	{
		name:  "skipped kinds are warnings",
		input: podYAML + "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: web, namespace: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n",
		wantWarns: []string{
			"in: document 1: Pod shop/web-1: skipped: kind Pod is not used",
			"in: document 2: Endpoints shop/web: skipped: kind Endpoints is not used; EndpointSlices are",
			"in: document 3: ConfigMap cfg: skipped: kind ConfigMap is not used",
		},
	},
	{
		name: "known kinds of other apiVersions are skipped",
		input: strings.Replace(sliceYAML, "discovery.k8s.io/v1", "discovery.k8s.io/v1beta1", 1) +
			"---\n" + strings.Replace(serviceYAML, "apiVersion: v1", "apiVersion: serving.knative.dev/v1", 1),
		wantWarns: []string{
			"in: document 1: EndpointSlice shop/web-abc: skipped: apiVersion discovery.k8s.io/v1beta1 of kind EndpointSlice is not used; only discovery.k8s.io/v1 is",
			"in: document 2: Service shop/web: skipped: apiVersion serving.knative.dev/v1 of kind Service is not used; only v1 is",
		},
	},
	{
		name:      "unknown fields of a used kind are warnings",
		input:     strings.Replace(serviceYAML, "    targetPort: 8080", "    targetport: 8080", 1),
		want:      []string{"Service shop/web"},
		wantWarns: []string{`in: document 1: Service shop/web: ignored: unknown field "spec.ports[0].targetport"`},
	},
	{
		name:  "empty documents are skipped silently",
		input: "---\n---\n# only a comment\n---\n\n---\n" + serviceYAML + "---\n",
		want:  []string{"Service shop/web"},
	},
	{
		name:  "empty stream",
		input: "",
	},
	{
		name:  "byte order mark and CRLF line ends",
		input: "\xef\xbb\xbf" + strings.ReplaceAll(serviceYAML+"---\n"+nodeYAML, "\n", "\r\n"),
		want:  []string{"Service shop/web", "Node node-a"},
	},
}

func TestLoad(t *testing.T) {
	for _, tt := range loadCases {
		t.Run(tt.name, func(t *testing.T) {
			objs, warns, err := Load("in", strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Load() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, summary(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarns, warningStrings(warns)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDecodesFields(t *testing.T) {
	objs, _, err := Load("in", strings.NewReader(kubectlList))
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	svc := objs.Services[0]
	if svc.Spec.ClusterIP != "172.30.0.10" || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
		t.Errorf("Service spec = %+v", svc.Spec)
	}
	if len(svc.ManagedFields) != 1 || svc.ManagedFields[0].Manager != "kubectl" {
		t.Errorf("Service managedFields = %+v", svc.ManagedFields)
	}
	slice := objs.EndpointSlices[0]
	if slice.Labels["kubernetes.io/service-name"] != "web" || slice.Endpoints[0].Addresses[0] != "10.1.0.5" || *slice.Endpoints[0].Conditions.Ready != true {
		t.Errorf("EndpointSlice = %+v", slice)
	}
	if got := objs.Nodes[0].Status.Addresses[0].Address; got != "192.168.0.10" {
		t.Errorf("Node address = %q, want 192.168.0.10", got)
	}
}

// badDocumentCase is a stream with one bad document (or List item):
// Load skips it with a warning naming the place and the reason, and
// reads the good Services around it.
type badDocumentCase struct {
	name         string
	input        string
	wantWarning  string
	wantServices int
}

var badDocumentCases = []badDocumentCase{
	{
		name:         "bad YAML names the document",
		input:        serviceYAML + "---\n# empty\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x: y\n---\n" + serviceYAML,
		wantWarning:  "in: document 3: skipped: yaml: line 4: mapping values are not allowed in this context",
		wantServices: 2,
	},
	{
		name:         "bad JSON names the line and skips the rest of the stream",
		input:        serviceJSON + "{\"apiVersion\": \"v1\",\n\"kind\": \"Service\",\n x}" + serviceJSON,
		wantWarning:  "in: document 2: skipped with the rest of the stream: json: line ",
		wantServices: 1,
	},
	{
		name:         "truncated JSON",
		input:        `{"apiVersion": "v1", "kind": "Service"`,
		wantWarning:  "in: document 1: skipped with the rest of the stream: unexpected EOF",
		wantServices: 0,
	},
	{
		name:         "bad field type names the field",
		input:        strings.Replace(serviceYAML, "port: 80", `port: "abc"`, 1) + "---\n" + serviceYAML,
		wantWarning:  "in: document 1: Service shop/web: skipped: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32",
		wantServices: 1,
	},
	{
		name:         "bad field type in a List item",
		input:        "apiVersion: v1\nkind: List\nitems:\n" + indentItem(podYAML) + indentItem(serviceYAML) + indentItem("apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nstatus: {addresses: 5}\n"),
		wantWarning:  "in: document 1: items[2]: Node node-1: skipped: json: cannot unmarshal number into Go struct field NodeStatus.status.addresses",
		wantServices: 1,
	},
	{
		name:         "no kind",
		input:        "apiVersion: v1\nmetadata: {name: x}\n---\n" + serviceYAML,
		wantWarning:  "in: document 1: x: skipped: object has no kind",
		wantServices: 1,
	},
	{
		name:         "no apiVersion",
		input:        "kind: Service\nmetadata: {name: x}\n---\n" + serviceYAML,
		wantWarning:  "in: document 1: Service x: skipped: object has no apiVersion",
		wantServices: 1,
	},
	{
		name:         "not an object",
		input:        serviceYAML + "---\n- a\n- b\n",
		wantWarning:  "in: document 2: skipped: expected an object, found a list",
		wantServices: 1,
	},
	{
		name:         "items not a list",
		input:        "apiVersion: v1\nkind: List\nitems: {a: b}\n---\n" + serviceYAML,
		wantWarning:  "in: document 1: skipped: reading items: json: cannot unmarshal object",
		wantServices: 1,
	},
	{
		name:         "bad document separator",
		input:        serviceYAML + "--- junk\n",
		wantWarning:  "in: document 1: skipped: invalid Yaml document separator: junk",
		wantServices: 0, // the separator ends document 1 before it is read
	},
	{
		name:         "Lists nested too deeply",
		input:        strings.Repeat(`{"apiVersion": "v1", "kind": "List", "items": [`, maxListDepth+1) + strings.Repeat("]}", maxListDepth+1),
		wantWarning:  "in: document 1: " + strings.TrimPrefix(strings.Repeat(".items[0]", maxListDepth), ".") + ": skipped: lists nested more than 32 deep",
		wantServices: 0,
	},
}

func TestLoadSkipsBadDocuments(t *testing.T) {
	for _, tt := range badDocumentCases {
		t.Run(tt.name, func(t *testing.T) {
			objs, warns, err := Load("in", strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Load() error %v, want the bad document skipped", err)
			}
			var lines []string
			for _, w := range warns {
				lines = append(lines, w.String())
			}
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, tt.wantWarning) }) {
				t.Errorf("warnings %q, want one starting %q", lines, tt.wantWarning)
			}
			if len(objs.Services) != tt.wantServices {
				t.Errorf("read %d Services, want %d", len(objs.Services), tt.wantServices)
			}
		})
	}
}

func TestLoadReadError(t *testing.T) {
	_, _, err := Load("in", iotest.ErrReader(errors.New("boom")))
	if err == nil || err.Error() != "reading in: boom" {
		t.Errorf("Load() error = %v, want %q", err, "reading in: boom")
	}
}

// writeFiles creates files (path relative to dir → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadPath(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		path      string // relative to the test's directory; "-" is stdin
		stdin     string
		want      []string
		wantWarns []string
	}{
		{
			name:  "one file",
			files: map[string]string{"svc.yaml": serviceYAML},
			path:  "svc.yaml",
			want:  []string{"Service shop/web"},
		},
		{
			name:  "a file is read whatever its name",
			files: map[string]string{"state.txt": serviceJSON},
			path:  "state.txt",
			want:  []string{"Service shop/api"},
		},
		{
			name: "directory in lexical order, recursively, manifests only",
			files: map[string]string{
				"b.yml":          strings.Replace(serviceYAML, "web", "b", 1),
				"a/z.json":       strings.Replace(serviceJSON, `"api"`, `"a-z"`, 1),
				"a.yaml":         strings.Replace(serviceYAML, "web", "a", 1),
				"c/d/e.YAML":     strings.Replace(serviceYAML, "web", "cde", 1),
				"c/d/notes.txt":  "not: [a manifest",
				"README.md":      "# not a manifest",
				"c/pod.yaml":     podYAML,
				"c/node.yaml":    nodeYAML,
				"c/slices.json":  `{"apiVersion": "v1", "kind": "List", "items": []}`,
				"c/d/empty.yaml": "",
			},
			path:      ".",
			want:      []string{"Service shop/a", "Service shop/a-z", "Service shop/b", "Service shop/cde", "Node node-a"},
			wantWarns: []string{"c/pod.yaml: document 1: Pod shop/web-1: skipped: kind Pod is not used"},
		},
		{
			name:      "directory without manifests",
			files:     map[string]string{"README.md": "hello"},
			path:      ".",
			wantWarns: []string{".: no *.yaml, *.yml or *.json files found"},
		},
		{
			name:      "stdin",
			path:      "-",
			stdin:     podYAML + "---\n" + serviceYAML,
			want:      []string{"Service shop/web"},
			wantWarns: []string{"stdin: document 1: Pod shop/web-1: skipped: kind Pod is not used"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			t.Chdir(dir) // so that paths in warnings are short and stable
			objs, warns, err := LoadPath(tt.path, strings.NewReader(tt.stdin))
			if err != nil {
				t.Fatalf("LoadPath() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, summary(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarns, warningStrings(warns)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadPathErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		path    string
		wantErr string
	}{
		{
			name:    "missing file",
			path:    "nope.yaml",
			wantErr: "reading manifests: stat nope.yaml: no such file or directory",
		},
		{
			name:    "no stdin",
			path:    "-",
			wantErr: "reading stdin: no standard input",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			t.Chdir(dir)
			_, _, err := LoadPath(tt.path, nil)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("LoadPath() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestLoadPathSkipsBadDocuments reads a directory and stdin with a bad
// document each: the warning names the file, and the rest is read.
func TestLoadPathSkipsBadDocuments(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": serviceYAML, "b/c.yaml": serviceYAML + "---\nkind: [\n"})
	t.Chdir(dir)
	objs, warns, err := LoadPath(".", nil)
	if err != nil || len(objs.Services) != 2 || len(warns) != 1 ||
		warns[0].String() != "b/c.yaml: document 2: skipped: yaml: line 1: did not find expected node content" {
		t.Errorf("LoadPath(dir) = %d Services, %v, %v; want 2, the bad document's warning, no error", len(objs.Services), warns, err)
	}
	objs, warns, err = LoadPath("-", strings.NewReader("metadata: {}\n---\n"+serviceYAML))
	if err != nil || len(objs.Services) != 1 || len(warns) != 1 || warns[0].String() != "stdin: document 1: skipped: object has no kind" {
		t.Errorf("LoadPath(stdin) = %d Services, %v, %v; want 1, the bad document's warning, no error", len(objs.Services), warns, err)
	}
}

func TestLoadPathUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	path := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(path, []byte(serviceYAML), 0o000); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadPath(path, nil)
	if err == nil || !errors.Is(err, os.ErrPermission) {
		t.Errorf("LoadPath() error = %v, want a permission error", err)
	}
}
