package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs svcproxy with args and returns stdout, stderr and the exit
// code main would use.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errOut.WriteString("svcproxy: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), code
}

const badServiceYAML = `apiVersion: v1
kind: Service
metadata: {namespace: demo, name: bad}
spec: {clusterIP: 172.30.0.300, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: demo, name: good}
spec: {clusterIP: 172.30.0.10, ports: [{port: 80}]}
`

// renderDir stands, in renderCases' arguments, for the directory
// TestRenderCommand makes for its files.
const renderDir = "$DIR"

type renderCase struct {
	name       string
	stdin      string
	args       []string
	wantCode   int
	wantOut    []string
	wantNotOut []string
	wantErr    []string
}

var renderCases = []renderCase{
	{
		name:    "built-in example, iptables",
		args:    []string{"render", "--dry-run"},
		wantOut: []string{"# svcproxy ipv4 rules: iptables-restore --noflush", "*nat", "demo/web:http", "--dport 30080", "COMMIT"},
	},
	{
		name:    "built-in example, nftables",
		args:    []string{"render", "--dry-run", "--mode", "nftables"},
		wantOut: []string{"# svcproxy ipv4 rules: nft -f", "add table ip svcproxy", "10.244.1.5"},
	},
	{
		name:     "skipped objects warn and exit 0",
		stdin:    badServiceYAML,
		args:     []string{"render", "--dry-run", "-f", "-"},
		wantOut:  []string{"demo/good"},
		wantErr:  []string{"warning: Service demo/bad: cluster IP skipped"},
		wantCode: 0,
	},
	{
		name:     "--strict exits 2 on skipped objects, still printing the rest",
		stdin:    badServiceYAML,
		args:     []string{"render", "--dry-run", "--strict", "-f", "-"},
		wantOut:  []string{"demo/good"},
		wantErr:  []string{"warning: Service demo/bad", "1 object(s) skipped (--strict)"},
		wantCode: 2,
	},
	{
		name:     "unreadable file exits 1 naming it",
		args:     []string{"render", "--dry-run", "-f", filepath.Join(renderDir, "missing.yaml")},
		wantErr:  []string{"missing.yaml"},
		wantCode: 1,
	},
	{
		name:    "unparsable document is skipped, naming file and document; the rest renders",
		args:    []string{"render", "--dry-run", "-f", filepath.Join(renderDir, "broken.yaml")},
		wantOut: []string{"10.96.0.50"},
		wantErr: []string{"broken.yaml: document 2: skipped: yaml:"},
	},
	{
		name: "--external-ip-cidrs keeps only the external IPs in them",
		stdin: "apiVersion: v1\nkind: Service\nmetadata: {namespace: demo, name: web}\n" +
			"spec: {clusterIP: 10.96.0.50, externalIPs: [198.51.100.20, 203.0.113.7], ports: [{port: 80}]}\n",
		args:       []string{"render", "--dry-run", "-f", "-", "--external-ip-cidrs", "198.51.100.0/24"},
		wantOut:    []string{"198.51.100.20"},
		wantNotOut: []string{"203.0.113.7"},
		wantErr:    []string{"spec.externalIPs entry 203.0.113.7 skipped: it is outside --external-ip-cidrs"},
	},
	{
		name:     "a bad --external-ip-cidrs is refused",
		args:     []string{"render", "--dry-run", "--external-ip-cidrs", "198.51.100.0/33"},
		wantErr:  []string{"--external-ip-cidrs"},
		wantCode: 1,
	},
	{
		name:     "unparsable document with --strict exits 2",
		args:     []string{"render", "--dry-run", "--strict", "-f", filepath.Join(renderDir, "broken.yaml")},
		wantErr:  []string{"broken.yaml: document 2: skipped: yaml:"},
		wantCode: 2,
	},
	{
		name:       "--family selects one family",
		args:       []string{"render", "--dry-run", "--family", "ipv6"},
		wantNotOut: []string{"ipv4", "10.96.0.10"},
	},
	{
		name:     "unknown mode is refused",
		args:     []string{"render", "--dry-run", "--mode", "ipvs"},
		wantErr:  []string{`--mode: unknown mode "ipvs"`},
		wantCode: 1,
	},
	{
		name:     "bad cluster CIDR is refused",
		args:     []string{"render", "--dry-run", "--cluster-cidr", "10.0.0.0/33"},
		wantErr:  []string{"--cluster-cidr"},
		wantCode: 1,
	},
}

func TestRenderCommand(t *testing.T) {
	dir := t.TempDir()
	unparsable := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(unparsable, []byte("apiVersion: v1\nkind: Service\nmetadata: {namespace: demo, name: web}\nspec: {clusterIP: 10.96.0.50, ports: [{port: 80}]}\n---\nkind: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range renderCases {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, a := range tt.args {
				args = append(args, strings.Replace(a, renderDir, dir, 1))
			}
			out, errOut, code := runCLI(t, tt.stdin, args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNotOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestRenderWarningsCannotForgeLines renders Services whose names hold a
// newline and a terminal escape: each warning stays one line, starting
// with "warning: ", with the characters escaped.
func TestRenderWarningsCannotForgeLines(t *testing.T) {
	input := `apiVersion: v1
kind: Service
metadata: {namespace: demo, name: "a\nwarning: Service demo/forged: everything is fine"}
spec: {clusterIP: 172.30.0.10, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: demo, name: "b\e[2J"}
spec: {clusterIP: 172.30.0.11, ports: [{port: 80}]}
`
	_, stderr, code := runCLI(t, input, "render", "--dry-run", "-f", "-")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for _, line := range lines {
		if !strings.HasPrefix(line, "warning: Service demo/a") && !strings.HasPrefix(line, "warning: Service demo/b") {
			t.Errorf("a warning line does not start with its own object: %q", line)
		}
		if strings.ContainsRune(line, '\x1b') {
			t.Errorf("a raw escape reaches the terminal: %q", line)
		}
	}
	if len(lines) < 2 || !strings.Contains(stderr, `demo/a\nwarning`) || !strings.Contains(stderr, `demo/b\x1b[2J`) {
		t.Errorf("the names are not shown escaped:\n%s", stderr)
	}
}
