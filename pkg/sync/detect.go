package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Mode is the rule backend a family's rules are written through.
type Mode string

const (
	// ModeNFTables writes rules with nft into native nftables tables.
	ModeNFTables Mode = "nftables"
	// ModeIPTablesNFT writes iptables rules with the nf_tables variant of
	// the iptables tools (iptables-nft), which stores them in nftables.
	ModeIPTablesNFT Mode = "iptables-nft"
	// ModeIPTablesLegacy writes iptables rules with the legacy variant
	// (iptables-legacy), which stores them in the x_tables kernel tables.
	ModeIPTablesLegacy Mode = "iptables-legacy"
)

// Request is what the user asked for with --mode: a Mode, or a choice the
// Detector makes.
type Request string

const (
	// RequestAuto picks nftables where the kernel and nft support it, and
	// otherwise the iptables variant the host already uses.
	RequestAuto Request = "auto"
	// RequestNFTables asks for nftables, failing when it is unsupported.
	RequestNFTables Request = "nftables"
	// RequestIPTables asks for iptables, in the variant the host uses.
	RequestIPTables Request = "iptables"
	// RequestIPTablesNFT asks for iptables-nft whatever the host uses.
	RequestIPTablesNFT Request = "iptables-nft"
	// RequestIPTablesLegacy asks for iptables-legacy whatever the host uses.
	RequestIPTablesLegacy Request = "iptables-legacy"
)

// Requests lists the valid --mode values, the default first.
var Requests = []Request{RequestAuto, RequestNFTables, RequestIPTables, RequestIPTablesNFT, RequestIPTablesLegacy}

// ParseRequest validates a --mode value. The empty string means
// RequestAuto, so that callers without a flag get the default.
func ParseRequest(s string) (Request, error) {
	if s == "" {
		return RequestAuto, nil
	}
	for _, r := range Requests {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Requests))
	for i, r := range Requests {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown mode %q: want one of %s", s, strings.Join(names, ", "))
}

// Detection is the backend chosen for one family and why.
type Detection struct {
	Family model.Family
	Mode   Mode
	// Evidence are human-readable reasons for the choice, in the order
	// they were found, e.g. "kernel 6.18.44 >= 5.13" or
	// "rules: legacy 12, nft 3".
	Evidence []string
	// IPTablesVersion is the version of the chosen iptables variant, e.g.
	// "1.8.9", when an iptables variant was chosen.
	IPTablesVersion string
	// NFTVersion is nft's version, e.g. "1.0.6", when nft was probed.
	NFTVersion string
	// Kernel is the kernel release, e.g. "6.18.44-fc-v669", when it was
	// read.
	Kernel string
}

// MarshalJSON writes the detection with lower-case field names and the
// family spelled "ipv4" or "ipv6", the way scripts and flags name it.
// Evidence keeps its ">=" unescaped: this is not HTML.
func (d Detection) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		Family          string   `json:"family"`
		Mode            Mode     `json:"mode"`
		Evidence        []string `json:"evidence"`
		IPTablesVersion string   `json:"iptablesVersion,omitempty"`
		NFTVersion      string   `json:"nftVersion,omitempty"`
		Kernel          string   `json:"kernel,omitempty"`
	}{d.Family.String(), d.Mode, d.Evidence, d.IPTablesVersion, d.NFTVersion, d.Kernel})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// Detector decides which backend to use in the current network namespace.
// Its zero value is not usable: Runner must be set.
type Detector struct {
	// Runner runs iptables and nft; ExecRunner on a real host.
	Runner Runner
	// KernelRelease returns the running kernel's release, as `uname -r`.
	// Nil reads /proc/sys/kernel/osrelease.
	KernelRelease func() (string, error)
	// NoSanityCheck accepts iptables-nft versions older than 1.8.4, whose
	// exit codes and -C checks are known to be wrong.
	NoSanityCheck bool
}

// Detect decides the backend of family for req, as ParseRequest returns
// it (the zero Request means auto). An explicitly requested iptables
// variant always wins, as long as its tools work.
func (d *Detector) Detect(ctx context.Context, req Request, family model.Family) (Detection, error) {
	var err error
	det := Detection{Family: family}
	switch req {
	case RequestNFTables:
		det.Evidence = append(det.Evidence, "requested nftables")
		err = d.requireNFTables(ctx, &det)
		det.Mode = ModeNFTables
	case RequestIPTablesNFT, RequestIPTablesLegacy:
		det.Mode = Mode(req)
		det.Evidence = append(det.Evidence, "requested "+string(req))
		err = d.requireVariant(ctx, &det)
	case RequestIPTables:
		det.Evidence = append(det.Evidence, "requested iptables")
		err = d.pickVariant(ctx, &det)
	case RequestAuto, "":
		err = d.detectAuto(ctx, &det)
	default:
		// Only a Request made by hand gets here; ParseRequest says why
		// it is wrong.
		_, err = ParseRequest(string(req))
	}
	if err != nil {
		return Detection{}, err
	}
	return det, nil
}

// detectAuto prefers nftables and falls back to iptables, recording why.
func (d *Detector) detectAuto(ctx context.Context, det *Detection) error {
	nftErr := d.requireNFTables(ctx, det)
	if nftErr == nil {
		det.Mode = ModeNFTables
		return nil
	}
	det.Evidence = append(det.Evidence, "nftables not usable: "+nftErr.Error())
	if err := d.pickVariant(ctx, det); err != nil {
		return fmt.Errorf("%w (and nftables is not usable: %v)", err, nftErr)
	}
	return nil
}

// Minimum versions for nftables mode, the same kube-proxy documents for
// its own nftables mode: older kernels and nft lack features the nftables
// rules rely on.
var (
	minKernel = dottedVersion{5, 13, 0}
	minNFT    = dottedVersion{1, 0, 1}
)

// requireNFTables checks that the kernel and nft support nftables mode and
// that nft can read this namespace's ruleset.
func (d *Detector) requireNFTables(ctx context.Context, det *Detection) error {
	if err := d.checkKernel(det); err != nil {
		return err
	}
	if err := d.lookPath("nft", "nftables"); err != nil {
		return err
	}
	out, err := d.Runner.Run(ctx, nil, "nft", "--version")
	if err != nil {
		return fmt.Errorf("reading the nft version: %w", err)
	}
	v, err := parseNFTVersion(string(out))
	if err != nil {
		return err
	}
	det.NFTVersion = v.String()
	if v.less(minNFT) {
		return fmt.Errorf("nft v%s is older than v%s, the first that nftables mode supports: upgrade the nftables package or use --mode iptables", v, minNFT)
	}
	det.Evidence = append(det.Evidence, fmt.Sprintf("nft v%s >= %s", v, minNFT))
	// Listing proves the nf_tables module is there and that we may use
	// it here (CAP_NET_ADMIN in this namespace), which versions alone do
	// not tell.
	if _, err := d.Runner.Run(ctx, nil, "nft", "list", "tables"); err != nil {
		return fmt.Errorf("listing nftables tables: %w", err)
	}
	return nil
}

// checkKernel reads the kernel release into det and checks it against
// minKernel.
func (d *Detector) checkKernel(det *Detection) error {
	read := d.KernelRelease
	if read == nil {
		read = readKernelRelease
	}
	release, err := read()
	if err != nil {
		return fmt.Errorf("reading the kernel release: %w", err)
	}
	det.Kernel = release
	v, err := parseKernelRelease(release)
	if err != nil {
		return err
	}
	if v.less(minKernel) {
		return fmt.Errorf("kernel %s is older than %d.%d, the first that nftables mode supports: upgrade the kernel or use --mode iptables", release, minKernel[0], minKernel[1])
	}
	det.Evidence = append(det.Evidence, fmt.Sprintf("kernel %s >= %d.%d", release, minKernel[0], minKernel[1]))
	return nil
}

// readKernelRelease reads the release from procfs, which needs no cgo
// and no syscall package differences between architectures.
func readKernelRelease() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// lookPath checks that a tool exists, saying which package installs it.
func (d *Detector) lookPath(name, pkg string) error {
	if _, err := d.Runner.LookPath(name); err != nil {
		return &MissingToolError{Tool: name, Package: pkg, Err: err}
	}
	return nil
}

// MissingToolError is a command that is not installed.
type MissingToolError struct {
	// Tool is the missing command, e.g. "iptables-nft-save".
	Tool string
	// Package is the Debian package that installs it.
	Package string
	Err     error
}

// Error returns a one-line message saying how to install the tool.
func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s not found: install the %s package (apt-get install %s)", e.Tool, e.Package, e.Package)
}

// Unwrap returns the lookup error.
func (e *MissingToolError) Unwrap() error { return e.Err }

// IPTablesCommand names a binary of an iptables variant for family: tool ""
// is the main command, "save" and "restore" the dump and load commands. So
// (IPv6, ModeIPTablesNFT, "restore") is "ip6tables-nft-restore". Binaries
// are always called by variant name, because the plain "iptables" alias
// points at whichever variant the host's alternatives chose. It returns ""
// for ModeNFTables, which has no iptables binaries.
func IPTablesCommand(family model.Family, mode Mode, tool string) string {
	var variant string
	switch mode {
	case ModeIPTablesNFT:
		variant = "nft"
	case ModeIPTablesLegacy:
		variant = "legacy"
	default:
		return ""
	}
	name := "iptables-" + variant
	if family == model.IPv6 {
		name = "ip6tables-" + variant
	}
	if tool != "" {
		name += "-" + tool
	}
	return name
}
