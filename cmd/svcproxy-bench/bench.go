package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// benchOptions are the flags of svcproxy-bench.
type benchOptions struct {
	sizes      []int
	mix        bench.Mix
	modes      []string
	csvPath    string
	svgPath    string
	skipKernel bool
	live       liveOptions
}

// liveOptions are the flags of the end-to-end run against an apiserver.
type liveOptions struct {
	apiserver bool
	compare   bool
	changes   int
	timeout   time.Duration
	workDir   string
	svcproxy  string
}

// newRootCommand returns the whole command: the benchmark has no
// subcommands, so its flags sit on the root.
func newRootCommand() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "svcproxy-bench",
		Short: "Measure rendering and kernel load times on a synthetic cluster",
		Long: `svcproxy-bench generates a synthetic cluster of each size, renders it in
each mode (time and bytes allocated, best of 3), and, as root, loads it into
a fresh network namespace: the first full apply, then one endpoint changed,
one Service added and one removed, each applied through the same applier;
and, for comparison, the tool alone (nft -f, iptables-restore) loading the
same first ruleset into another namespace.
Every namespace it creates is deleted, also on error and on Ctrl-C.

Rendering allocates in this process; the peak RSS column is the process's
peak so far (VmHWM), not the row's own. Numbers are single runs.

With --apiserver, it instead measures end to end: it starts etcd and
kube-apiserver (built from test/tools on first use, so run it from the
svcproxy checkout), writes the cluster to the API, and runs "svcproxy run"
in each mode in a network namespace of its own. The svcproxy binary is the
one --svcproxy names, else one built from ./cmd/svcproxy into the work
directory. From the proxy's metrics it reads the first full sync and, for
--changes single-endpoint changes, the time from the API write to the rules
being in the kernel; and the proxy's RSS. --compare-kube-proxy runs
kube-proxy (built from the same Kubernetes release as the apiserver) the
same way beside it and prints the ratios.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.sizes, "services", []int{1000, 5000, 10000}, "numbers of Services to measure")
	f.IntVar(&o.mix.Endpoints, "endpoints", 10, "endpoints per Service")
	f.IntVar(&o.mix.NodePortEvery, "nodeport-every", 10, "make every Nth Service a NodePort (0: none)")
	f.IntVar(&o.mix.LoadBalancerEvery, "lb-every", 0, "make every Nth Service a LoadBalancer with an ingress IP (0: none)")
	f.IntVar(&o.mix.AffinityEvery, "affinity-every", 0, "give every Nth Service ClientIP affinity (0: none)")
	f.IntVar(&o.mix.LocalEvery, "local-every", 0, "give every Nth Service externalTrafficPolicy Local (0: none)")
	f.StringSliceVar(&o.modes, "modes", []string{"nftables", "iptables-legacy", "iptables-nft"}, "modes to measure")
	f.StringVar(&o.csvPath, "csv", "", "also write the results as CSV to this file")
	f.StringVar(&o.svgPath, "svg", "", "also plot first-apply time against Services as SVG to this file")
	f.BoolVar(&o.skipKernel, "skip-kernel", false, "measure rendering only, without loading rules into the kernel")
	f.BoolVar(&o.live.apiserver, "apiserver", false, "measure end to end against a real kube-apiserver (root)")
	f.BoolVar(&o.live.compare, "compare-kube-proxy", false, "with --apiserver (implied): also run kube-proxy and print ratios")
	f.IntVar(&o.live.changes, "changes", 10, "with --apiserver: single-endpoint changes to time per proxy and mode")
	f.DurationVar(&o.live.timeout, "first-sync-timeout", 10*time.Minute, "with --apiserver: give up on a first sync after this long")
	f.StringVar(&o.live.workDir, "work-dir", "", "with --apiserver: keep server data and proxy logs here (default: a temporary directory, removed)")
	f.StringVar(&o.live.svcproxy, "svcproxy", "", "with --apiserver: the svcproxy binary to run (default: go build ./cmd/svcproxy into the work directory)")
	return cmd
}

func (o *benchOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.live.apiserver || o.live.compare {
		return o.runLive(ctx, stdout, stderr)
	}
	opts, err := o.options(stderr)
	if err != nil {
		return err
	}
	results, runErr := bench.Run(ctx, opts)
	if err := bench.WriteTable(stdout, results); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if o.csvPath != "" {
		if err := writeFile(o.csvPath, func(w io.Writer) error { return bench.WriteCSV(w, results) }); err != nil {
			return err
		}
	}
	if o.svgPath != "" {
		err := writeFile(o.svgPath, func(w io.Writer) error { return bench.WriteSVG(w, results) })
		if errors.Is(err, bench.ErrNothingToPlot) {
			fmt.Fprintf(stderr, "svcproxy-bench: not writing %s: %v\n", o.svgPath, bench.ErrNothingToPlot)
			return nil
		}
		return err
	}
	return nil
}

// options checks the flags and turns them into bench.Options.
func (o *benchOptions) options(stderr io.Writer) (bench.Options, error) {
	modes, err := o.cluster()
	if err != nil {
		return bench.Options{}, err
	}
	skip := o.skipKernel
	if !skip && os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "svcproxy-bench: not root, skipping the kernel steps (rendering only); run as root to load rules into network namespaces")
		skip = true
	}
	return bench.Options{Sizes: o.sizes, Mix: o.mix, Modes: modes, SkipKernel: skip, Progress: stderr}, nil
}

// cluster checks the flags both kinds of run share, the modes and the
// cluster of every size, and returns the modes.
func (o *benchOptions) cluster() ([]sync.Mode, error) {
	modes, err := bench.ParseModes(o.modes)
	if err != nil {
		return nil, err
	}
	if len(o.sizes) == 0 {
		return nil, errors.New("--services names no size")
	}
	for _, size := range o.sizes {
		mix := o.mix
		mix.Services = size
		if err := mix.Validate(); err != nil {
			return nil, fmt.Errorf("checking the cluster of %d Services: %w", size, err)
		}
	}
	return modes, nil
}

// writeFile creates path and fills it with write, removing it on failure.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", path, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}
