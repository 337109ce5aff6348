package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// detectOptions are the flags of `svcproxy detect`, plus the host seams
// tests replace.
type detectOptions struct {
	mode          string
	noSanityCheck bool
	output        string
	family        string
	// req is mode, parsed.
	req sync.Request

	// runner runs iptables and nft; nil means the host's.
	runner sync.Runner
	// kernelRelease reads `uname -r`; nil means the host's.
	kernelRelease func() (string, error)
}

func newDetectCommand() *cobra.Command {
	return newDetectCommandFor(&detectOptions{})
}

// newDetectCommandFor binds the detect flags to o, so tests can give it a
// fake host.
func newDetectCommandFor(o *detectOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "detect",
		Short: "Show which rule backend this network namespace uses, per IP family",
		Long: `Detect decides, for the current network namespace, whether rules are written
with nftables, iptables-nft or iptables-legacy, for IPv4 and IPv6
separately, and prints the evidence for each choice: the kernel and tool
versions, the kubelet chain that was found, or the rule counts compared.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", string(sync.RequestAuto), "backend: auto, nftables, iptables (variant detected), iptables-nft or iptables-legacy")
	f.BoolVar(&o.noSanityCheck, "no-sanity-check", false, "accept iptables-nft older than 1.8.4, whose exit codes and -C checks are wrong")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&o.family, "family", "", "detect only this IP family: ipv4 or ipv6 (default: both)")
	return cmd
}

func (o *detectOptions) run(ctx context.Context, out io.Writer) error {
	families, err := o.validate()
	if err != nil {
		return err
	}
	d := &sync.Detector{Runner: o.runner, KernelRelease: o.kernelRelease, NoSanityCheck: o.noSanityCheck}
	if d.Runner == nil {
		d.Runner = sync.ExecRunner{}
	}
	dets := make([]sync.Detection, 0, len(families))
	for _, family := range families {
		det, err := d.Detect(ctx, o.req, family)
		if err != nil {
			return &exitError{1, oneLineError{fmt.Errorf("detect %s: %w", family, err)}}
		}
		dets = append(dets, det)
	}
	if o.output == "json" {
		return writeDetectionsJSON(out, dets)
	}
	return writeDetectionsText(out, dets)
}

// validate checks the flags and returns the families to detect.
func (o *detectOptions) validate() ([]model.Family, error) {
	var err error
	if o.req, err = sync.ParseRequest(o.mode); err != nil {
		return nil, fmt.Errorf("detect: --mode: %w", err)
	}
	switch o.output {
	case "text", "json":
	default:
		return nil, fmt.Errorf("detect: --output %q: want text or json", o.output)
	}
	switch o.family {
	case "":
		return model.Families, nil
	case "ipv4":
		return []model.Family{model.IPv4}, nil
	case "ipv6":
		return []model.Family{model.IPv6}, nil
	}
	return nil, fmt.Errorf("detect: --family %q: want ipv4 or ipv6", o.family)
}

// writeDetectionsText writes "ipv4: iptables-legacy" per family, each
// followed by its evidence, indented.
func writeDetectionsText(out io.Writer, dets []sync.Detection) error {
	var b strings.Builder
	for _, d := range dets {
		fmt.Fprintf(&b, "%s: %s\n", d.Family, d.Mode)
		for _, e := range d.Evidence {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return fmt.Errorf("writing the detection: %w", err)
	}
	return nil
}

// writeDetectionsJSON writes the detections as one JSON array.
func writeDetectionsJSON(out io.Writer, dets []sync.Detection) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	// Evidence holds ">=", which HTML escaping would turn into \u003e.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(dets); err != nil {
		return fmt.Errorf("writing the detection: %w", err)
	}
	return nil
}

// oneLineError keeps a failure on one line: tools' standard error, quoted
// in command errors, often spans several.
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	var parts []string
	for _, line := range strings.Split(e.err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

func (e oneLineError) Unwrap() error { return e.err }
