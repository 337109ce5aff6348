package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// detectHost is a fake host for detect: a Debian bookworm with nft and
// both iptables variants, no rules, minus the commands in missing.
type detectHost struct {
	missing map[string]bool
	// stderr, when set, is what every iptables-*-save prints as it fails.
	stderr string
}

func (h detectHost) Run(_ context.Context, _ []byte, name string, args ...string) ([]byte, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	switch {
	case cmd == "nft --version":
		return []byte("nftables v1.0.6 (Lester Gooch #5)\n"), nil
	case cmd == "nft list tables":
		return nil, nil
	case strings.HasSuffix(cmd, "-nft --version"):
		return []byte("iptables v1.8.9 (nf_tables)\n"), nil
	case strings.HasSuffix(cmd, "-legacy --version"):
		return []byte("iptables v1.8.9 (legacy)\n"), nil
	case strings.HasSuffix(cmd, "-save") && h.stderr != "":
		return nil, &sync.CommandError{Command: cmd, ExitCode: 1, Stderr: h.stderr, Err: errors.New("exit status 1")}
	case strings.HasSuffix(cmd, "-save"):
		return nil, nil
	}
	return nil, &sync.CommandError{Command: cmd, ExitCode: 2, Stderr: "unexpected command in test", Err: errors.New("exit status 2")}
}

func (h detectHost) LookPath(name string) (string, error) {
	if h.missing[name] {
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
	return "/usr/sbin/" + name, nil
}

// runDetect runs `svcproxy detect args...` against host, returning stdout
// and the error main would print.
func runDetect(t *testing.T, host sync.Runner, kernel string, args ...string) (string, error) {
	t.Helper()
	o := &detectOptions{runner: host, kernelRelease: func() (string, error) { return kernel, nil }}
	cmd := newDetectCommandFor(o)
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

func TestDetectCommand(t *testing.T) {
	tests := []struct {
		name    string
		host    detectHost
		kernel  string
		args    []string
		want    string
		wantErr string
	}{
		{
			name: "text for both families", kernel: "6.18.44-fc-v669",
			want: "ipv4: nftables\n  kernel 6.18.44-fc-v669 >= 5.13\n  nft v1.0.6 >= 1.0.1\nipv6: nftables\n  kernel 6.18.44-fc-v669 >= 5.13\n  nft v1.0.6 >= 1.0.1\n",
		},
		{
			name: "explicit variant for one family", kernel: "6.18.44-fc-v669", args: []string{"--mode", "iptables-legacy", "--family", "ipv6"},
			want: "ipv6: iptables-legacy\n  requested iptables-legacy\n  ip6tables-legacy v1.8.9\n",
		},
		{
			name: "old kernel falls back to iptables", kernel: "5.12.0-foo", args: []string{"--family", "ipv4"},
			want: "ipv4: iptables-nft\n  nftables not usable: kernel 5.12.0-foo is older than 5.13, the first that nftables mode supports: upgrade the kernel or use --mode iptables\n" +
				"  no KUBE-IPTABLES-HINT or KUBE-KUBELET-CANARY chain in any mangle table\n  rules: legacy 0, nft 0\n  iptables-nft is the default unless legacy holds more rules\n  iptables-nft v1.8.9\n",
		},
		{name: "unknown mode", args: []string{"--mode", "ipvs"}, wantErr: `detect: --mode: unknown mode "ipvs": want one of auto, nftables, iptables, iptables-nft, iptables-legacy`},
		{name: "unknown output", args: []string{"--output", "yaml"}, wantErr: `detect: --output "yaml": want text or json`},
		{name: "unknown family", args: []string{"--family", "ipv5"}, wantErr: `detect: --family "ipv5": want ipv4 or ipv6`},
		{name: "arguments", args: []string{"eth0"}, wantErr: `unknown command "eth0" for "detect"`},
		{
			name: "missing binary", kernel: "6.18.44-fc-v669", args: []string{"--mode", "iptables"},
			host:    detectHost{missing: map[string]bool{"iptables-nft-save": true, "iptables-legacy-save": true}},
			wantErr: "detect ipv4: iptables-nft-save not found: install the iptables package (apt-get install iptables)",
		},
		{
			name: "missing kernel support", kernel: "4.19.0-25-amd64", args: []string{"--mode", "nftables"},
			wantErr: "detect ipv4: kernel 4.19.0-25-amd64 is older than 5.13, the first that nftables mode supports: upgrade the kernel or use --mode iptables",
		},
		{
			name: "multi-line tool error on one line", kernel: "6.18.44-fc-v669", args: []string{"--mode", "iptables-nft", "--family", "ipv4"},
			host:    detectHost{stderr: "iptables-nft-save: first\nsecond"},
			wantErr: "detect ipv4: dumping the rules: iptables-nft-save: iptables-nft-save: first; second",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runDetect(t, tt.host, tt.kernel, tt.args...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans several lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDetectCommandJSON(t *testing.T) {
	out, err := runDetect(t, detectHost{}, "6.18.44-fc-v669", "--output", "json", "--mode", "iptables")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	evidence := func(version string) []any {
		return []any{"requested iptables", "no KUBE-IPTABLES-HINT or KUBE-KUBELET-CANARY chain in any mangle table",
			"rules: legacy 0, nft 0", "iptables-nft is the default unless legacy holds more rules", version}
	}
	want := []map[string]any{
		{"family": "ipv4", "mode": "iptables-nft", "iptablesVersion": "1.8.9", "evidence": evidence("iptables-nft v1.8.9")},
		{"family": "ipv6", "mode": "iptables-nft", "iptablesVersion": "1.8.9", "evidence": evidence("ip6tables-nft v1.8.9")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	if strings.Contains(out, `\u003e`) {
		t.Errorf("JSON escapes > for HTML:\n%s", out)
	}
}

// TestDetectCommandInNamespace runs detect against the real tools in a
// fresh namespace, where nothing has rules, through the root command.
func TestDetectCommandInNamespace(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "iptables-nft-save", "iptables-legacy-save", "ip6tables-nft-save", "ip6tables-legacy-save")
	ns := netnstest.New(t)
	// The real binary, not the command in-process: the whole of detect,
	// including its ExecRunner, must run inside the namespace.
	bin := svcproxyBinary(t)
	out, err := ns.Run(nil, bin, "detect", "--mode", "iptables", "--output", "json")
	if err != nil {
		t.Fatalf("svcproxy detect: %v", err)
	}
	var got []struct{ Family, Mode string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	want := []struct{ Family, Mode string }{{"ipv4", "iptables-nft"}, {"ipv6", "iptables-nft"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("detections (-want +got):\n%s", diff)
	}
}
