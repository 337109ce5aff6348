package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/svcproxy/svcproxy/pkg/manifest"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

//go:embed example.yaml
var exampleManifest []byte

// exampleClusterCIDR is the pod network of the built-in example, used when
// it is rendered without --cluster-cidr so that the example shows how pod
// traffic is told from the rest.
const exampleClusterCIDR = "10.244.0.0/16"

// Exit codes of render beyond cobra's usage errors.
const (
	exitInputError = 1
	exitStrict     = 2
)

// renderOptions are the flags of `svcproxy render`.
type renderOptions struct {
	dryRun            bool
	mode              string
	noSanityCheck     bool
	loader            loaderFlag
	file              string
	family            string
	nodeName          string
	nodeIPs           []string
	clusterCIDRs      []string
	nodePortAddresses []string
	localhost         bool
	detectLocal       string
	podBridge         string
	podPrefix         string
	masqueradeAll     bool
	masqueradeBit     int
	nodePortRange     string
	externalIPCIDRs   []string
	strict            bool
	// req is the mode asked for, parsed once by validate.
	req sync.Request
}

// localhostNodePortsUsage describes --iptables-localhost-nodeports, the
// same in run and render.
const localhostNodePortsUsage = "in iptables mode, also serve IPv4 NodePorts on 127.0.0.1 where --nodeport-addresses admits it, as kube-proxy does (this sets route_localnet=1, guarded by KUBE-FIREWALL)"

func newRenderCommand() *cobra.Command {
	return newRenderCommandFor(&renderOptions{})
}

// newRenderCommandFor binds the render flags to o, so tests can parse a
// command line into options without running it.
func newRenderCommandFor(o *renderOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render the node ruleset for a cluster state read from manifests",
		Long: `Render reads Services, EndpointSlices and Nodes from manifests (YAML or
JSON, multi-document, v1 List, or a directory of them) and prints the
complete ruleset for every IP family present. Without -f it renders a
built-in example: a NodePort Service with two endpoints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "print the ruleset instead of applying it")
	f.StringVar(&o.mode, "mode", "", "auto, nftables, iptables, iptables-nft or iptables-legacy (default: auto; with --dry-run: iptables)")
	f.BoolVar(&o.noSanityCheck, "no-sanity-check", false, "allow iptables-nft older than 1.8.4, whose exit codes and -C are unreliable")
	o.loader.addFlag(f)
	o.addInputFlags(f)
	f.BoolVar(&o.strict, "strict", false, "exit 2 when any object was skipped")
	return cmd
}

// addInputFlags adds the flags that say what to render: the manifests,
// the node and the proxy configuration. trace takes them too.
func (o *renderOptions) addInputFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.file, "filename", "f", "", "manifest file, directory, or - for stdin (default: the built-in example, whose cluster CIDR is "+exampleClusterCIDR+")")
	f.StringVar(&o.family, "family", "", "render only this IP family: ipv4 or ipv6 (default: every family present)")
	f.StringVar(&o.nodeName, "node-name", "", "this node's name (default: the only Node in the input)")
	f.StringSliceVar(&o.nodeIPs, "node-ip", nil, "this node's IPs, comma-separated (default: the Node's addresses)")
	f.StringSliceVar(&o.clusterCIDRs, "cluster-cidr", nil, "pod CIDRs, comma-separated: traffic to cluster IPs from outside them is masqueraded")
	f.StringSliceVar(&o.nodePortAddresses, "nodeport-addresses", nil, "CIDRs of the node addresses that accept NodePort traffic, or primary for the node's primary address of each family (default: every local address in iptables mode, primary in nftables mode)")
	f.BoolVar(&o.localhost, "iptables-localhost-nodeports", true, localhostNodePortsUsage)
	f.StringVar(&o.detectLocal, "detect-local-mode", detectClusterCIDR, detectLocalModeUsage)
	f.StringVar(&o.podBridge, "pod-bridge-interface", "", "with --detect-local-mode BridgeInterface, the bridge the pods are on")
	f.StringVar(&o.podPrefix, "pod-interface-name-prefix", "", "with --detect-local-mode InterfaceNamePrefix, the prefix of the names of the pods' interfaces")
	f.BoolVar(&o.masqueradeAll, "masquerade-all", false, "masquerade all traffic to cluster IPs")
	f.IntVar(&o.masqueradeBit, "masquerade-bit", model.DefaultMasqueradeBit, "fwmark bit (0-31) that marks packets for masquerading")
	f.StringVar(&o.nodePortRange, "service-node-port-range", model.DefaultNodePortRange.String(), "the API server's node port range: node ports outside it are skipped")
	f.StringSliceVar(&o.externalIPCIDRs, "external-ip-cidrs", nil, externalIPCIDRsUsage)
}

func (o *renderOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	models, skipped, err := o.models(stdin, stderr)
	if err != nil {
		return err
	}
	if o.strict && skipped > 0 && !o.dryRun {
		// Refused before anything touches the kernel: a strict apply
		// is all of the input or nothing.
		return &exitError{exitStrict, fmt.Errorf("render: %d object(s) skipped (--strict): nothing applied", skipped)}
	}
	if o.dryRun {
		err = o.print(ctx, stdout, models)
	} else {
		err = o.apply(ctx, stdout, models)
	}
	if err != nil {
		return err
	}
	if o.strict && skipped > 0 {
		return &exitError{exitStrict, fmt.Errorf("render: %d object(s) skipped (--strict)", skipped)}
	}
	return nil
}

// models builds the models of the input the flags name, of the family
// asked for, printing every warning to stderr, and counts the objects
// skipped.
func (o *renderOptions) models(stdin io.Reader, stderr io.Writer) ([]*model.Model, int, error) {
	objs, loadWarnings, err := o.load(stdin)
	if err != nil {
		return nil, 0, &exitError{exitInputError, err}
	}
	in, cfg, nodeWarnings, err := o.input(objs)
	if err != nil {
		return nil, 0, err
	}
	models, warnings := model.Build(in, cfg)
	warnings = append(nodeWarnings, warnings...)
	for _, w := range loadWarnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return o.selectFamily(models), skippedObjects(warnings, loadWarnings), nil
}

// skippedObjects counts the objects the warnings name, each once: an
// object can have several warnings. A warning that names no object (a
// whole document) counts as one.
func skippedObjects(warnings []model.Warning, loadWarnings []manifest.Warning) int {
	seen := map[string]bool{}
	n := 0
	for _, w := range warnings {
		if key := w.Kind + " " + w.Object; !seen[key] {
			seen[key] = true
			n++
		}
	}
	for _, w := range loadWarnings {
		key := w.Kind + " " + w.Object
		if w.Object == "" {
			n++
			continue
		}
		if !seen[key] {
			seen[key] = true
			n++
		}
	}
	return n
}

// request returns the --mode value with its default: a dry run prints
// iptables rules unless told otherwise, so its output does not depend on
// the host; applying detects the host's backend.
func (o *renderOptions) request() string {
	switch {
	case o.mode != "":
		return o.mode
	case o.dryRun:
		return string(sync.RequestIPTables)
	}
	return string(sync.RequestAuto)
}

func (o *renderOptions) validate() error {
	var err error
	if o.req, err = sync.ParseRequest(o.request()); err != nil {
		return fmt.Errorf("render: --mode: %w", err)
	}
	switch o.family {
	case "", "ipv4", "ipv6":
	default:
		return fmt.Errorf("render: --family %q: want ipv4 or ipv6", o.family)
	}
	if o.masqueradeBit < 0 || o.masqueradeBit > 31 {
		return fmt.Errorf("render: --masquerade-bit %d: want 0-31", o.masqueradeBit)
	}
	if !slices.Contains(detectLocalModes, o.detectLocal) {
		return fmt.Errorf("render: --detect-local-mode %q: want one of %s", o.detectLocal, strings.Join(detectLocalModes, ", "))
	}
	if _, _, err := podInterface(o.detectLocal, o.podBridge, o.podPrefix); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}

func (o *renderOptions) load(stdin io.Reader) (*manifest.Objects, []manifest.Warning, error) {
	if o.file == "" {
		if len(o.clusterCIDRs) == 0 {
			o.clusterCIDRs = []string{exampleClusterCIDR}
		}
		return manifest.Load("built-in example", bytes.NewReader(exampleManifest))
	}
	return manifest.LoadPath(o.file, stdin)
}

// input turns the objects and flags into the model's input. Flags override
// what a Node object says, so a manifest from one node can be rendered for
// another.
func (o *renderOptions) input(objs *manifest.Objects) (model.Input, model.Config, []model.Warning, error) {
	cfg := model.Config{MasqueradeBit: o.masqueradeBit, MasqueradeAll: o.masqueradeAll, LocalhostNodePorts: o.localhost,
		DetectLocalNodeCIDR: o.detectLocal == detectNodeCIDR}
	var err error
	if cfg.ClusterCIDRs, err = model.ParseCIDRs(o.clusterCIDRs); err != nil {
		return model.Input{}, cfg, nil, fmt.Errorf("render: --cluster-cidr: %w", err)
	}
	cfg.PodInterface, cfg.PodInterfacePrefix, _ = podInterface(o.detectLocal, o.podBridge, o.podPrefix)
	if cfg.NodePortAddresses, cfg.NodePortPrimary, err = model.ParseNodePortAddresses(o.nodePortAddresses); err != nil {
		return model.Input{}, cfg, nil, fmt.Errorf("render: --nodeport-addresses: %w", err)
	}
	if cfg.NodePortRange, err = model.ParsePortRange(o.nodePortRange); err != nil {
		return model.Input{}, cfg, nil, fmt.Errorf("render: --service-node-port-range: %w", err)
	}
	if cfg.ExternalIPCIDRs, err = model.ParseCIDRs(o.externalIPCIDRs); err != nil {
		return model.Input{}, cfg, nil, fmt.Errorf("render: --external-ip-cidrs: %w", err)
	}
	node, warnings, err := o.node(objs)
	if err != nil {
		return model.Input{}, cfg, nil, err
	}
	return model.Input{Services: objs.Services, EndpointSlices: objs.EndpointSlices, ServiceCIDRs: objs.ServiceCIDRs, Node: node}, cfg, warnings, nil
}

// node picks this node: the Node object named by --node-name, or the only
// Node in the input; then --node-name and --node-ip override.
func (o *renderOptions) node(objs *manifest.Objects) (model.Node, []model.Warning, error) {
	var node model.Node
	var warnings []model.Warning
	for _, n := range objs.Nodes {
		if (o.nodeName == "" && len(objs.Nodes) == 1) || n.Name == o.nodeName {
			node, warnings = model.NodeFromObject(n)
		}
	}
	if o.nodeName != "" {
		node.Name = o.nodeName
	}
	if len(o.nodeIPs) > 0 {
		node.IPs = nil
		for _, s := range o.nodeIPs {
			ip, err := model.ParseIP(strings.TrimSpace(s))
			if err != nil {
				return node, nil, fmt.Errorf("render: --node-ip: %w", err)
			}
			node.IPs = append(node.IPs, ip)
		}
	}
	return node, warnings, nil
}

func (o *renderOptions) selectFamily(models []*model.Model) []*model.Model {
	if o.family == "" {
		return models
	}
	var out []*model.Model
	for _, m := range models {
		if m.Family.String() == o.family {
			out = append(out, m)
		}
	}
	return out
}
