package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"

	"github.com/svcproxy/svcproxy/internal/tracer"
	iptrace "github.com/svcproxy/svcproxy/internal/tracer/iptables"
	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// traceOptions are the flags of `svcproxy trace`.
type traceOptions struct {
	render   renderOptions
	from     string
	fromNode bool
	fromPod  bool
	live     bool
	output   string
}

func newTraceCommand() *cobra.Command {
	o := &traceOptions{}
	cmd := &cobra.Command{
		Use:   "trace --from SRC [--from-node|--from-pod] PROTO DST:PORT",
		Short: "Walk one packet through the rules and print the way it takes",
		Long: `Trace walks the first packet of a connection through svcproxy's rules,
as the kernel would, and prints every way it can end: each chain and rule
it takes (with the rule's comment, which names the Service), how likely
each endpoint is, whether it leaves masqueraded, and the verdict.

The rules are rendered from manifests, with the flags render takes (-f,
default the built-in example; --mode iptables or nftables, default
iptables), or, with --live, read from the kernel: what this network
namespace holds now, in the backend holding svcproxy's rules. --live
only reads (nft list table, iptables-save); --node-ip then says which
addresses are the node's, else the interfaces' are.

A packet comes from a pod or from outside the node unless --from-node
says the node sends it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the packet's source address, with @IFACE for the interface it comes in on where rules match it")
	f.BoolVar(&o.fromNode, "from-node", false, "the node sends the packet (the OUTPUT path)")
	f.BoolVar(&o.fromPod, "from-pod", false, "a pod or a host outside sends the packet (the PREROUTING path; the default)")
	f.StringVarP(&o.output, "output", "o", "text", "text or json")
	f.BoolVar(&o.live, "live", false, "walk the rules the kernel holds in this network namespace, read with nft list and iptables-save only, instead of rendering them")
	f.StringVar(&o.render.mode, "mode", "", "iptables or nftables: the rules to render (default iptables); with --live, nftables, iptables, iptables-nft or iptables-legacy (default: the backend holding svcproxy's rules)")
	o.render.addInputFlags(f)
	_ = cmd.MarkFlagRequired("from")
	cmd.MarkFlagsMutuallyExclusive("from-node", "from-pod")
	return cmd
}

func (o *traceOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	p, err := o.packet(args)
	if err != nil {
		return err
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("trace: --output %q: want text or json", o.output)
	}
	var rules *tracedRules
	if o.live {
		rules, err = liveRules(ctx, sync.ExecRunner{}, o.render.mode, model.FamilyOf(p.Dst), o.render.nodeIPs, stderr)
	} else {
		rules, err = o.renderedRules(stdin, stderr, model.FamilyOf(p.Dst))
	}
	if err != nil {
		return err
	}
	routes, err := rules.routes(p)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	rep := newTraceReport(p, rules.mode, routes)
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	rep.writeText(stdout)
	return nil
}

// packet reads the packet from the flags and the arguments.
func (o *traceOptions) packet(args []string) (tracer.Packet, error) {
	var p tracer.Packet
	src, iface, _ := strings.Cut(o.from, "@")
	var err error
	if p.Src, err = model.ParseIP(src); err != nil {
		return p, fmt.Errorf("trace: --from: %w", err)
	}
	if iface != "" {
		if p.InIface, err = model.ParseInterfaceName(iface); err != nil {
			return p, fmt.Errorf("trace: --from: %w", err)
		}
		if o.fromNode {
			return p, errors.New("trace: --from: a packet the node sends comes in on no interface")
		}
	}
	if p.Protocol, err = model.ParseProtocol(v1.Protocol(strings.ToUpper(args[0]))); err != nil {
		return p, fmt.Errorf("trace: %w", err)
	}
	dst, err := netip.ParseAddrPort(args[1])
	if err != nil {
		return p, fmt.Errorf("trace: destination %q: want IP:PORT", args[1])
	}
	p.Dst, p.Port, p.FromNode = dst.Addr().Unmap(), dst.Port(), o.fromNode
	if model.FamilyOf(p.Src) != model.FamilyOf(p.Dst) {
		return p, fmt.Errorf("trace: source %s and destination %s are of different families", p.Src, p.Dst)
	}
	return p, nil
}

// tracedRules are one family's rules, ready to walk packets through.
type tracedRules struct {
	mode string
	ipt  *iptrace.Ruleset
	nft  *nfttrace.Table
	// node are the node's addresses, which decide what is local.
	node []netip.Addr
}

// renderedRules renders the rules of family fam from the input flags.
func (o *traceOptions) renderedRules(stdin io.Reader, stderr io.Writer, fam model.Family) (*tracedRules, error) {
	o.render.dryRun = true
	if o.render.mode == "" {
		o.render.mode = modeIPTables
	}
	if o.render.mode != modeIPTables && o.render.mode != modeNFTables {
		return nil, fmt.Errorf("trace: --mode %q: want iptables or nftables", o.render.mode)
	}
	if err := o.render.validate(); err != nil {
		return nil, err
	}
	models, _, err := o.render.models(stdin, stderr)
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		if m.Family == fam {
			return newTracedRules(o.render.mode, m)
		}
	}
	return nil, fmt.Errorf("trace: the input has no %s rules", fam)
}

// newTracedRules renders m in mode, and reads the text back as the
// kernel tools would.
func newTracedRules(mode string, m *model.Model) (*tracedRules, error) {
	r := &tracedRules{mode: mode, node: m.Node.IPs}
	var err error
	if mode == modeNFTables {
		r.nft, err = nfttrace.Load(string(nftables.RenderRuleset(m).Transaction()))
	} else {
		r.ipt, err = iptrace.Parse(iptables.Render(m).Payload())
	}
	if err != nil {
		return nil, fmt.Errorf("trace: reading the %s rules: %w", mode, err)
	}
	return r, nil
}

func (r *tracedRules) routes(p tracer.Packet) ([]tracer.Route, error) {
	if r.nft != nil {
		return nfttrace.Routes(r.nft, r.node, p)
	}
	return r.ipt.Routes(r.node, p)
}
