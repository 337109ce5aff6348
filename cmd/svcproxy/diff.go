package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/tools/txtar"
	"k8s.io/client-go/tools/cache"

	iptrace "github.com/svcproxy/svcproxy/internal/tracer/iptables"
	nfttrace "github.com/svcproxy/svcproxy/internal/tracer/nftables"
	"github.com/svcproxy/svcproxy/pkg/manifest"
	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
	"github.com/svcproxy/svcproxy/pkg/watch"
)

// exitDiffTrouble is diff's exit code when it could not compare, as
// diff(1)'s; 1 means the two differ.
const exitDiffTrouble = 2

// diffOptions are the flags of `svcproxy diff`.
type diffOptions struct {
	render     renderOptions
	live       bool
	kubeconfig string
	hostname   string
}

func newDiffCommand() *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff A B | diff --live [-f FILE]",
		Short: "Compare two rulesets, or the desired rules with the kernel's, by what they do",
		Long: `Diff compares two rulesets by what they do, Service port by Service port:
for every destination the rules name (cluster, external and load
balancer IPs, node ports) and every kind of sender (a pod, a host
outside, the node), where a new connection ends up and how likely each
end is. Spelling, order, chain names and hashes do not count.

With two files, it compares two rendered rulesets: render --dry-run
outputs, or golden files (their --mode section). With --live, it
compares the desired rules with what the kernel holds in this network
namespace, read with nft list table and iptables-save only: the drift
detector. The desired rules are those svcproxy run computes from the
API server named by --kubeconfig, with the same informers, for the node
--hostname-override names (default: the host name); without
--kubeconfig, those the input flags render, as render would.

It exits 0 when the two do the same, 1 when they differ, 2 when it
could not compare, as diff(1).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.live != (len(args) == 0) || (!o.live && len(args) != 2) {
				return fmt.Errorf("diff: want two files, or --live and no file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			differ, err := o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
			switch {
			case err != nil:
				return &exitError{exitDiffTrouble, err}
			case differ:
				return &exitError{1, fmt.Errorf("the rules differ")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.live, "live", false, "compare the rules the input renders to with those the kernel holds in this network namespace")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "with --live, take the desired state from this API server, as svcproxy run does, instead of manifests")
	f.StringVar(&o.hostname, "hostname-override", "", "with --kubeconfig, this node's name (default: the host name)")
	f.StringVar(&o.render.mode, "mode", "", "with two files, the section of golden files to compare (iptables or nftables, default iptables); with --live, the backend to read (default: the one holding svcproxy's rules)")
	o.render.addInputFlags(f)
	return cmd
}

// run compares and prints the differences; differ says there were any.
func (o *diffOptions) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) (bool, error) {
	var a, b map[model.Family]*tracedRules
	var err error
	if o.live {
		a, b, err = o.liveSides(ctx, stdin, stderr)
	} else {
		if a, err = rulesOfFile(args[0], o.render.mode); err == nil {
			b, err = rulesOfFile(args[1], o.render.mode)
		}
	}
	if err != nil {
		return false, err
	}
	var lines []string
	for _, fam := range model.Families {
		va, vb := ruleView{}, ruleView{}
		if a[fam] != nil {
			if va, err = newRuleView(a[fam], fam); err != nil {
				return false, fmt.Errorf("diff: %w", err)
			}
		}
		if b[fam] != nil {
			if vb, err = newRuleView(b[fam], fam); err != nil {
				return false, fmt.Errorf("diff: %w", err)
			}
		}
		for _, l := range compareViews(va, vb) {
			lines = append(lines, fam.String()+" "+l)
		}
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return len(lines) > 0, nil
}

// liveSides renders the input's rules in the live backend's language
// and reads the kernel's, for every family either has.
func (o *diffOptions) liveSides(ctx context.Context, stdin io.Reader, stderr io.Writer) (want, have map[model.Family]*tracedRules, err error) {
	o.render.dryRun = true
	mode := o.render.mode
	o.render.mode = ""
	if err := o.render.validate(); err != nil {
		return nil, nil, err
	}
	var models []*model.Model
	if o.kubeconfig != "" {
		models, err = o.apiModels(ctx, stderr)
	} else {
		models, _, err = o.render.models(stdin, stderr)
	}
	if err != nil {
		return nil, nil, err
	}
	want, have = map[model.Family]*tracedRules{}, map[model.Family]*tracedRules{}
	for _, m := range models {
		var ips []string
		for _, ip := range m.Node.IPs {
			ips = append(ips, ip.String())
		}
		live, err := liveRules(ctx, sync.ExecRunner{}, mode, m.Family, ips, stderr)
		if err != nil {
			return nil, nil, err
		}
		lang := modeIPTables
		if live.mode == string(sync.ModeNFTables) {
			lang = modeNFTables
		}
		if want[m.Family], err = newTracedRules(lang, m); err != nil {
			return nil, nil, err
		}
		have[m.Family] = live
	}
	return want, have, nil
}

// rulesOfFile reads a rendered ruleset: render --dry-run's output, or a
// golden file's section of mode.
func rulesOfFile(path, mode string) (map[model.Family]*tracedRules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	if filepath.Ext(path) == ".txtar" {
		if mode == "" {
			mode = modeIPTables
		}
		ar := txtar.Parse(data)
		i := slices.IndexFunc(ar.Files, func(f txtar.File) bool { return f.Name == mode })
		if i < 0 {
			return nil, fmt.Errorf("diff: %s has no %s section", path, mode)
		}
		data = ar.Files[i].Data
	}
	out, err := parseRendered(data)
	if err != nil {
		return nil, fmt.Errorf("diff: %s: %w", path, err)
	}
	return out, nil
}

// parseRendered reads render --dry-run's output: one payload or table
// per family, each after a "# svcproxy FAMILY rules: TOOL" line.
func parseRendered(data []byte) (map[model.Family]*tracedRules, error) {
	out := map[model.Family]*tracedRules{}
	parts := bytes.Split(data, []byte("# svcproxy "))
	for _, part := range parts[1:] {
		header, body, _ := bytes.Cut(part, []byte("\n"))
		fam := model.IPv4
		if bytes.HasPrefix(header, []byte("ipv6 ")) {
			fam = model.IPv6
		}
		var err error
		if strings.HasSuffix(string(header), "nft -f") {
			t, lerr := nfttrace.Load(string(body))
			out[fam], err = &tracedRules{mode: modeNFTables, nft: t}, lerr
		} else {
			rs, perr := iptrace.Parse(body)
			out[fam], err = &tracedRules{mode: modeIPTables, ipt: rs}, perr
		}
		if err != nil {
			return nil, fmt.Errorf("the %s rules: %w", fam, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no \"# svcproxy FAMILY rules\" header: not render --dry-run output")
	}
	return out, nil
}

// apiSyncTimeout bounds the wait for the informers' first lists.
const apiSyncTimeout = time.Minute

// apiModels builds the models svcproxy run would from the API server:
// the same informers and tracker feed the same model, with the proxy
// configuration of the input flags.
func (o *diffOptions) apiModels(ctx context.Context, stderr io.Writer) ([]*model.Model, error) {
	run := &runOptions{kubeconfig: o.kubeconfig, hostnameOverride: o.hostname}
	run.kp.apiQPS, run.kp.apiBurst, run.kp.apiContentType = defaultAPIQPS, defaultAPIBurst, defaultAPIContentType
	client, err := run.client()
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	name, err := run.nodeName()
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	tracker := watch.NewTracker(name)
	w, err := watch.NewWatcher(client, tracker, 0)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiSyncTimeout)
	defer cancel()
	go w.Run(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), w.HasSynced) {
		return nil, fmt.Errorf("diff: listing Services, EndpointSlices and the Node %s: not within %v", name, apiSyncTimeout)
	}
	in, _ := tracker.Snapshot()
	_, cfg, _, err := o.render.input(&manifest.Objects{})
	if err != nil {
		return nil, err
	}
	models, warnings := model.Build(in, cfg)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return o.render.selectFamily(models), nil
}
