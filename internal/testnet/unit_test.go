package testnet

import (
	"errors"
	"io/fs"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
)

func TestValidate(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.1.1.5"), netip.MustParseAddr("fd00:1:1::5")
	tests := []struct {
		name    string
		pods    []PodSpec
		wantErr string
	}{
		{"dual stack", []PodSpec{{Name: "a", IPv4: v4, IPv6: v6}}, ""},
		{"ipv6 only", []PodSpec{{Name: "a", IPv6: v6}}, ""},
		{"two subnets", []PodSpec{{Name: "a", IPv4: v4}, {Name: "b", IPv4: netip.MustParseAddr("10.1.2.5")}}, ""},
		{"no name", []PodSpec{{IPv4: v4}}, "empty or repeated"},
		{"repeated name", []PodSpec{{Name: "a", IPv4: v4}, {Name: "a", IPv4: netip.MustParseAddr("10.1.2.5")}}, "empty or repeated"},
		{"no address", []PodSpec{{Name: "a"}}, "no address"},
		{"gateway address", []PodSpec{{Name: "a", IPv4: netip.MustParseAddr("10.1.1.1")}}, "not a usable host"},
		{"network address", []PodSpec{{Name: "a", IPv6: netip.MustParseAddr("fd00:1:1::")}}, "not a usable host"},
		{"ipv6 in ipv4 field", []PodSpec{{Name: "a", IPv4: v6}}, "not a usable host"},
		{"shared subnet", []PodSpec{{Name: "a", IPv4: v4}, {Name: "b", IPv4: netip.MustParseAddr("10.1.1.6")}}, "share subnet 10.1.1.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(tt.pods)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("validate: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewPodGateways(t *testing.T) {
	p := newPod(PodSpec{Name: "a", IPv4: netip.MustParseAddr("10.1.7.42"), IPv6: netip.MustParseAddr("fd00:1:7::42")}, 3, nil)
	want := Pod{
		Name: "a", IPv4: netip.MustParseAddr("10.1.7.42"), IPv6: netip.MustParseAddr("fd00:1:7::42"),
		GatewayIPv4: netip.MustParseAddr("10.1.7.1"), GatewayIPv6: netip.MustParseAddr("fd00:1:7::1"), NodeLink: "vpod3",
	}
	if *p != want {
		t.Errorf("newPod = %+v, want %+v", *p, want)
	}
}

func TestAnswerLine(t *testing.T) {
	tests := []struct {
		name           string
		server, client netip.AddrPort
		wantLine       string
	}{
		{"ipv4", netip.MustParseAddrPort("10.1.1.5:8080"), netip.MustParseAddrPort("203.0.113.7:40000"), "10.1.1.5:8080 203.0.113.7:40000\n"},
		{"ipv4 mapped", netip.MustParseAddrPort("[::ffff:10.1.1.5]:8080"), netip.MustParseAddrPort("[::ffff:10.1.2.5]:1"), "10.1.1.5:8080 10.1.2.5:1\n"},
		{"ipv6", netip.MustParseAddrPort("[fd00:1:1::5]:53"), netip.MustParseAddrPort("[fd00:192::100]:40000"), "[fd00:1:1::5]:53 [fd00:192::100]:40000\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := answerLine(tt.server, tt.client)
			if line != tt.wantLine {
				t.Fatalf("answerLine = %q, want %q", line, tt.wantLine)
			}
			got, err := parseAnswer(line)
			if err != nil {
				t.Fatalf("parseAnswer: %v", err)
			}
			if want := (Answer{Endpoint: unmap(tt.server), Client: unmap(tt.client)}); got != want {
				t.Errorf("parseAnswer = %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseAnswerErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
	}{
		{"empty", ""},
		{"one field", "10.1.1.5:80\n"},
		{"bad endpoint", "10.1.1.5 10.1.2.5:1\n"},
		{"bad client", "10.1.1.5:80 nope\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := parseAnswer(tt.line); err == nil {
				t.Errorf("parseAnswer(%q) = %+v, want an error", tt.line, a)
			}
		})
	}
}

func TestAskMissingNamespace(t *testing.T) {
	missing := &netns.NS{Name: "svcproxy-test-does-not-exist"}
	tests := []struct {
		name  string
		proto Proto
	}{
		{"tcp", TCP},
		{"udp", UDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Ask(missing, tt.proto, netip.Addr{}, netip.MustParseAddrPort("10.1.1.5:80"), time.Second)
			if !errors.Is(err, fs.ErrNotExist) || Refused(err) || TimedOut(err) {
				t.Errorf("Ask error = %v, want one saying the namespace does not exist", err)
			}
		})
	}
}
