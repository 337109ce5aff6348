package conntrack

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeSysctls is a node's sysctls in memory; readOnly ones refuse writes.
type fakeSysctls struct {
	values   map[string]int
	readOnly map[string]bool
}

func (f *fakeSysctls) Get(name string) (int, bool, error) {
	v, ok := f.values[name]
	return v, ok, nil
}

func (f *fakeSysctls) Ensure(name string, value int) (bool, error) {
	if v, ok := f.values[name]; ok && v == value {
		return false, nil
	}
	if f.readOnly[name] {
		return false, errors.New("setting sysctl " + name + ": read-only file system")
	}
	f.values[name] = value
	return true, nil
}

func TestTCPBeLiberal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]int
		want   bool
	}{
		{name: "set", values: map[string]int{sysctlTCPBeLiberal: 1}, want: true},
		{name: "unset", values: map[string]int{sysctlTCPBeLiberal: 0}},
		{name: "no conntrack module", values: map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TCPBeLiberal(&fakeSysctls{values: tc.values})
			if err != nil || got != tc.want {
				t.Errorf("TCPBeLiberal = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSettingsSysctls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      Settings
		numCPU int
		want   []Sysctl
	}{
		{name: "kube-proxy's defaults on 2 CPUs: the minimum", s: DefaultSettings, numCPU: 2,
			want: []Sysctl{{sysctlMax, 131072}, {sysctlTCPEstablished, 86400}, {sysctlTCPCloseWait, 3600}}},
		{name: "kube-proxy's defaults on 8 CPUs: scaled", s: DefaultSettings, numCPU: 8,
			want: []Sysctl{{sysctlMax, 262144}, {sysctlTCPEstablished, 86400}, {sysctlTCPCloseWait, 3600}}},
		{name: "scaled but capped", s: Settings{MaxPerCore: 32768}, numCPU: 64, want: []Sysctl{{sysctlMax, 1 << 20}}},
		{name: "maxPerCore 0 leaves nf_conntrack_max", s: Settings{Min: 131072}, numCPU: 2},
		{name: "every setting", numCPU: 1,
			s:    Settings{MaxPerCore: 10, TCPBeLiberal: true, UDPTimeout: 30 * time.Second, UDPStreamTimeout: 2 * time.Minute},
			want: []Sysctl{{sysctlMax, 10}, {sysctlTCPBeLiberal, 1}, {sysctlUDP, 30}, {sysctlUDPStream, 120}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Sysctls(tc.numCPU); !slices.Equal(got, tc.want) {
				t.Errorf("Sysctls(%d) = %v, want %v", tc.numCPU, got, tc.want)
			}
		})
	}
}

// TestSetterApply applies kube-proxy's defaults to a node with smaller
// values: nf_conntrack_max and the hash size grow, and a second Apply
// changes nothing.
func TestSetterApply(t *testing.T) {
	sys := &fakeSysctls{values: map[string]int{sysctlMax: 65536, sysctlTCPEstablished: 432000, sysctlTCPCloseWait: 3600}}
	hashsize := filepath.Join(t.TempDir(), "hashsize")
	if err := os.WriteFile(hashsize, []byte("16384\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := Setter{Sysctls: sys, Hashsize: hashsize, NumCPU: func() int { return 2 }}
	changed, err := st.Apply(DefaultSettings)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{sysctlMax + "=131072", hashsizeParam + "=32768", sysctlTCPEstablished + "=86400"}
	if !slices.Equal(changed, want) {
		t.Errorf("Apply changed %v, want %v", changed, want)
	}
	if b, _ := os.ReadFile(hashsize); strings.TrimSpace(string(b)) != strconv.Itoa(32768) {
		t.Errorf("hash size %q, want 32768", b)
	}
	if again, err := st.Apply(DefaultSettings); err != nil || len(again) > 0 {
		t.Errorf("a second Apply changed %v, %v; want nothing", again, err)
	}
}

// TestSetterStopsAtAReadOnlySysctl is a node where nf_conntrack_max may
// not be set, as in a network namespace other than the host's: the
// error names it, as kube-proxy's would fail its start.
func TestSetterStopsAtAReadOnlySysctl(t *testing.T) {
	sys := &fakeSysctls{values: map[string]int{sysctlMax: 262144}, readOnly: map[string]bool{sysctlMax: true}}
	_, err := Setter{Sysctls: sys, NumCPU: func() int { return 2 }}.Apply(DefaultSettings)
	if err == nil || !strings.Contains(err.Error(), sysctlMax) {
		t.Errorf("Apply = %v, want an error naming %s", err, sysctlMax)
	}
}

func TestCountCPUList(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0-1": 2, "0-3,8,10-11": 7, "": 0, "3-1": 0, "x": 0} {
		if got := countCPUList(list); got != want {
			t.Errorf("countCPUList(%q) = %d, want %d", list, got, want)
		}
	}
}
