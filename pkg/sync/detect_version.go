package sync

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// dottedVersion is a dotted release number; missing parts are zero.
type dottedVersion [3]int

// String returns "major.minor.patch".
func (v dottedVersion) String() string {
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}

// less reports whether v is older than o.
func (v dottedVersion) less(o dottedVersion) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

// parseDottedVersion parses "1.8", "1.8.9" or "5.12.0". More than three parts
// are ignored.
func parseDottedVersion(s string) (dottedVersion, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return dottedVersion{}, fmt.Errorf("version %q: want major.minor[.patch]", s)
	}
	var v dottedVersion
	for i := 0; i < len(v) && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return dottedVersion{}, fmt.Errorf("version %q: part %q is not a number", s, parts[i])
		}
		v[i] = n
	}
	return v, nil
}

// kernelReleaseRE matches the numeric start of a kernel release, as in
// "6.18.44-fc-v669" or "5.12.0-foo"; distributions append anything after it.
var kernelReleaseRE = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?`)

// parseKernelRelease parses `uname -r` output.
func parseKernelRelease(release string) (dottedVersion, error) {
	m := kernelReleaseRE.FindString(strings.TrimSpace(release))
	if m == "" {
		return dottedVersion{}, fmt.Errorf("parsing kernel release %q: no version number at its start", release)
	}
	return parseDottedVersion(m)
}

// nftVersionRE matches `nft --version`: "nftables v1.0.6 (Lester Gooch #5)".
var nftVersionRE = regexp.MustCompile(`^nftables v([0-9]+\.[0-9]+(?:\.[0-9]+)?)\b`)

// parseNFTVersion parses `nft --version` output.
func parseNFTVersion(text string) (dottedVersion, error) {
	m := nftVersionRE.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return dottedVersion{}, fmt.Errorf("parsing nft --version output %q: want \"nftables vX.Y.Z\"", firstLineOf(text))
	}
	return parseDottedVersion(m[1])
}

// iptablesVersionRE matches `iptables --version`: "iptables v1.8.9
// (nf_tables)", "ip6tables v1.8.9 (legacy)", or "iptables v1.6.1" from
// releases before the nf_tables variant existed.
var iptablesVersionRE = regexp.MustCompile(`^ip6?tables\S* v([0-9]+\.[0-9]+(?:\.[0-9]+)?)(?: \(([a-z_]+)\))?`)

// variantVersion parses cmd's --version output and checks that it is the
// variant of mode: a broken alternatives setup can make iptables-nft point
// at the legacy binary, and we would then write to the wrong place.
func variantVersion(cmd string, mode Mode, text string) (dottedVersion, error) {
	m := iptablesVersionRE.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return dottedVersion{}, fmt.Errorf("parsing %s --version output %q: want \"iptables vX.Y.Z (variant)\"", cmd, firstLineOf(text))
	}
	v, err := parseDottedVersion(m[1])
	if err != nil {
		return dottedVersion{}, fmt.Errorf("parsing %s --version output: %w", cmd, err)
	}
	isNFT := m[2] == "nf_tables"
	if isNFT != (mode == ModeIPTablesNFT) {
		return dottedVersion{}, fmt.Errorf("%s --version says %q, which is not the %s variant: reinstall the iptables package", cmd, firstLineOf(text), mode)
	}
	return v, nil
}

// firstLineOf returns the first line of s, trimmed, for one-line messages.
func firstLineOf(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
