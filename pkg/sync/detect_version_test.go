package sync

import (
	"strings"
	"testing"
)

func TestVariantVersion(t *testing.T) {
	tests := []struct {
		name          string
		mode          Mode
		text          string
		noSanityCheck bool
		want          string
		wantErr       string
	}{
		{name: "nft variant", mode: ModeIPTablesNFT, text: "iptables v1.8.9 (nf_tables)\n", want: "1.8.9"},
		{name: "legacy variant", mode: ModeIPTablesLegacy, text: "iptables v1.8.9 (legacy)\n", want: "1.8.9"},
		{name: "ip6tables", mode: ModeIPTablesNFT, text: "ip6tables v1.8.10 (nf_tables)", want: "1.8.10"},
		{name: "legacy before variants existed", mode: ModeIPTablesLegacy, text: "iptables v1.6.1", want: "1.6.1"},
		{name: "oldest trusted nft", mode: ModeIPTablesNFT, text: "iptables v1.8.4 (nf_tables)", want: "1.8.4"},
		{name: "old nft refused", mode: ModeIPTablesNFT, text: "iptables v1.8.3 (nf_tables)", wantErr: "iptables-nft v1.8.3 is older than v1.8.4, whose exit codes and -C checks are wrong: upgrade the iptables package or pass --no-sanity-check"},
		{name: "old nft accepted without sanity check", mode: ModeIPTablesNFT, text: "iptables v1.8.3 (nf_tables)", noSanityCheck: true, want: "1.8.3"},
		{name: "old legacy is fine", mode: ModeIPTablesLegacy, text: "iptables v1.8.3 (legacy)", want: "1.8.3"},
		{name: "legacy binary behind the nft name", mode: ModeIPTablesNFT, text: "iptables v1.8.9 (legacy)", wantErr: `says "iptables v1.8.9 (legacy)", which is not the iptables-nft variant`},
		{name: "nft binary behind the legacy name", mode: ModeIPTablesLegacy, text: "iptables v1.8.9 (nf_tables)", wantErr: "not the iptables-legacy variant"},
		{name: "garbage", mode: ModeIPTablesNFT, text: "command not found", wantErr: `parsing iptables-nft --version output "command not found"`},
		{name: "empty", mode: ModeIPTablesLegacy, text: "", wantErr: "parsing iptables-legacy --version output"},
		{name: "no number", mode: ModeIPTablesNFT, text: "iptables vX (nf_tables)", wantErr: "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := "iptables-" + strings.TrimPrefix(string(tt.mode), "iptables-")
			d := &Detector{NoSanityCheck: tt.noSanityCheck}
			v, err := variantVersion(cmd, tt.mode, tt.text)
			if err == nil {
				err = d.sanityCheck(cmd, tt.mode, v)
			}
			checkDetectErr(t, err, tt.wantErr)
			if err == nil && v.String() != tt.want {
				t.Errorf("version = %s, want %s", v, tt.want)
			}
		})
	}
}

func TestParseNFTVersion(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    string
		wantErr string
	}{
		{name: "debian bookworm", text: "nftables v1.0.6 (Lester Gooch #5)\n", want: "1.0.6"},
		{name: "newer", text: "nftables v1.1.1 (Commodore Bullmoose #2)", want: "1.1.1"},
		{name: "two parts", text: "nftables v0.9 (Fearless Fosdick)", want: "0.9.0"},
		{name: "garbage", text: "nft: command not found", wantErr: `parsing nft --version output "nft: command not found"`},
		{name: "empty", text: "", wantErr: "parsing nft --version output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseNFTVersion(tt.text)
			checkDetectErr(t, err, tt.wantErr)
			if err == nil && v.String() != tt.want {
				t.Errorf("version = %s, want %s", v, tt.want)
			}
		})
	}
}

func TestKernelReleaseAgainstMinimum(t *testing.T) {
	tests := []struct {
		name    string
		release string
		wantOld bool
		wantErr string
	}{
		{name: "one minor too old", release: "5.12.0-foo", wantOld: true},
		{name: "exactly the minimum", release: "5.13.0", wantOld: false},
		{name: "no patch", release: "5.13", wantOld: false},
		{name: "distribution suffix", release: "6.18.44-fc-v669", wantOld: false},
		{name: "older major with higher minor", release: "4.19.0-25-amd64", wantOld: true},
		{name: "rc", release: "6.1-rc1", wantOld: false},
		{name: "newline from procfs", release: "6.8.0-31-generic\n", wantOld: false},
		{name: "garbage", release: "linux", wantErr: `parsing kernel release "linux"`},
		{name: "major only", release: "6", wantErr: "parsing kernel release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseKernelRelease(tt.release)
			checkDetectErr(t, err, tt.wantErr)
			if err == nil && v.less(minKernel) != tt.wantOld {
				t.Errorf("%s (parsed %s) older than %s = %v, want %v", tt.release, v, minKernel, !tt.wantOld, tt.wantOld)
			}
		})
	}
}

func TestDottedVersionLess(t *testing.T) {
	tests := []struct {
		name string
		a, b dottedVersion
		want bool
	}{
		{name: "equal", a: dottedVersion{1, 8, 4}, b: dottedVersion{1, 8, 4}, want: false},
		{name: "patch", a: dottedVersion{1, 8, 3}, b: dottedVersion{1, 8, 4}, want: true},
		{name: "minor beats patch", a: dottedVersion{1, 9, 0}, b: dottedVersion{1, 8, 9}, want: false},
		{name: "major beats minor", a: dottedVersion{5, 20, 0}, b: dottedVersion{6, 1, 0}, want: true},
		{name: "numeric not lexical", a: dottedVersion{1, 0, 9}, b: dottedVersion{1, 0, 10}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.less(tt.b); got != tt.want {
				t.Errorf("%s < %s = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// checkDetectErr fails t unless err contains wantErr, or is nil when wantErr is
// empty.
func checkDetectErr(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("no error, want one containing %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error %q does not contain %q", err, wantErr)
	}
}
