package main

import (
	"encoding/json"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

const threeEndpoints = `apiVersion: v1
kind: Service
metadata: {namespace: demo, name: web}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: demo, name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.244.1.5]}, {addresses: [10.244.2.6]}, {addresses: [10.244.3.7]}]
`

type traceCase struct {
	name     string
	stdin    string
	args     []string
	wantOut  []string
	wantErr  string
	wantCode int
}

var traceCases = []traceCase{
	{
		name: "the example's cluster IP, iptables",
		args: []string{"trace", "--from", "10.244.2.9", "tcp", "10.96.0.10:80"},
		wantOut: []string{"through the iptables rules", `nat KUBE-SERVICES  "demo/web:http cluster IP"`,
			"route 1 of 2, 50%: DNAT to 10.244.1.5:8080", "verdict: 10.244.1.5:8080 (50%), 10.244.2.7:8080 (50%)"},
	},
	{
		name:    "the example's NodePort from outside, nftables",
		args:    []string{"trace", "--mode", "nftables", "--from", "203.0.113.5", "tcp", "192.168.49.2:30080"},
		wantOut: []string{"ip svcproxy services", `"nodeports"`, "DNAT to 10.244.2.7:8080, masqueraded", "verdict: 10.244.1.5:8080+masq (50%), 10.244.2.7:8080+masq (50%)"},
	},
	{
		name:    "three endpoints a third each, iptables",
		stdin:   threeEndpoints,
		args:    []string{"trace", "-f", "-", "--from", "10.244.9.9", "tcp", "10.96.0.20:80"},
		wantOut: []string{"verdict: 10.244.1.5:8080 (33.33%), 10.244.2.6:8080 (33.33%), 10.244.3.7:8080 (33.33%)"},
	},
	{
		name:    "three endpoints a third each, nftables",
		stdin:   threeEndpoints,
		args:    []string{"trace", "-f", "-", "--mode", "nftables", "--from", "10.244.9.9", "tcp", "10.96.0.20:80"},
		wantOut: []string{"verdict: 10.244.1.5:8080 (33.33%), 10.244.2.6:8080 (33.33%), 10.244.3.7:8080 (33.33%)"},
	},
	{
		name:    "no Service there",
		args:    []string{"trace", "--from", "10.244.2.9", "tcp", "10.96.0.99:80"},
		wantOut: []string{"accepted, not DNATed: no Service takes it", "verdict: accept (100%)"},
	},
	{name: "a bad source", args: []string{"trace", "--from", "nonsense", "tcp", "10.96.0.10:80"}, wantErr: `--from: "nonsense" is not an IP address`, wantCode: 1},
	{name: "families differ", args: []string{"trace", "--from", "fd00::1", "tcp", "10.96.0.10:80"}, wantErr: "different families", wantCode: 1},
	{name: "an unknown protocol", args: []string{"trace", "--from", "10.0.0.1", "icmp", "10.96.0.10:80"}, wantErr: `unknown protocol "ICMP"`, wantCode: 1},
	{name: "no source", args: []string{"trace", "tcp", "10.96.0.10:80"}, wantErr: `"from" not set`, wantCode: 1},
	{name: "a mode trace cannot walk", args: []string{"trace", "--mode", "ipvs", "--from", "10.0.0.1", "tcp", "10.96.0.10:80"}, wantErr: `--mode "ipvs"`, wantCode: 1},
}

func TestTraceCommand(t *testing.T) {
	for _, tt := range traceCases {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, errOut)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tt.wantErr != "" && !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}

// TestTraceAgreesWithGoldens traces every packet of every golden
// scenario with -o json, in both modes: the verdicts are the ones the
// scenario expects, the routes' probabilities add up to one, and every
// route that reaches an endpoint passed a rule whose comment names the
// Service port.
func TestTraceAgreesWithGoldens(t *testing.T) {
	n := 0
	for _, path := range goldenFiles(t) {
		sc := loadScenario(t, path)
		exps, err := tracer.ParseExpectations(string(sc.section(secTrace)))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range exps {
			for _, mode := range []string{modeIPTables, modeNFTables} {
				if e.Backend == "" || e.Backend == mode {
					checkTraceJSON(t, sc, mode, e)
					n++
				}
			}
		}
	}
	t.Logf("%d packets traced", n)
}

func checkTraceJSON(t *testing.T, sc *scenario, mode string, e tracer.Expectation) {
	t.Helper()
	args := append([]string{"trace", "-o", "json", "--mode", mode, "-f", "-"}, sc.flags...)
	src := e.Packet.Src.String()
	if e.Packet.InIface != "" {
		src += "@" + e.Packet.InIface
	}
	args = append(args, "--from", src, string(e.Packet.Protocol), netip.AddrPortFrom(e.Packet.Dst, e.Packet.Port).String())
	if e.Packet.FromNode {
		args = append(args, "--from-node")
	}
	out, errOut, code := runCLI(t, string(sc.input), args...)
	if code != 0 {
		t.Errorf("%s %s line %d: exit %d: %s", scenarioName(sc.path), mode, e.Line, code, errOut)
		return
	}
	var rep traceReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%s: %v", scenarioName(sc.path), err)
	}
	var got []string
	sum := 0.0
	for _, r := range rep.Routes {
		got = append(got, r.Outcome)
		sum += r.Probability
		if r.Endpoint != "" && !slices.ContainsFunc(r.Path, func(s tracer.Step) bool { return strings.Contains(s.Comment+s.ElementComment, "/") }) {
			t.Errorf("%s %s line %d: the route to %s names no Service port: %+v", scenarioName(sc.path), mode, e.Line, r.Endpoint, r.Path)
		}
	}
	slices.Sort(got)
	if g := strings.Join(slices.Compact(got), " "); g != e.Want {
		t.Errorf("%s %s line %d: %s\n got: %s\nwant: %s", scenarioName(sc.path), mode, e.Line, e.Packet, g, e.Want)
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("%s %s line %d: the routes' probabilities add up to %v", scenarioName(sc.path), mode, e.Line, sum)
	}
}
