package bench

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// Modes are the modes the benchmark knows, in their default order.
var Modes = []sync.Mode{sync.ModeNFTables, sync.ModeIPTablesLegacy, sync.ModeIPTablesNFT}

// ParseModes checks mode names against Modes.
func ParseModes(names []string) ([]sync.Mode, error) {
	var out []sync.Mode
	for _, n := range names {
		mode := sync.Mode(n)
		found := false
		for _, m := range Modes {
			found = found || m == mode
		}
		if !found {
			return nil, fmt.Errorf("parsing modes: unknown mode %q (want one of %v)", n, Modes)
		}
		out = append(out, mode)
	}
	if len(out) == 0 {
		return nil, errors.New("parsing modes: no mode given")
	}
	return out, nil
}

// Options says what a benchmark run measures.
type Options struct {
	// Sizes are the numbers of Services to measure, in order.
	Sizes []int
	// Mix is the cluster shape; its Services field is set from Sizes.
	Mix   Mix
	Modes []sync.Mode
	// SkipKernel skips the kernel steps, measuring rendering only.
	SkipKernel bool
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Run measures every size in every mode and returns one result per pair,
// sizes outermost. Each mode's kernel steps run in a network namespace of
// their own, deleted before Run moves on, also when a step fails or ctx is
// cancelled. On error Run returns the results measured so far.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	var results []Result
	for _, size := range opts.Sizes {
		mix := opts.Mix
		mix.Services = size
		sc, err := BuildScenario(mix)
		if err != nil {
			return results, fmt.Errorf("building the %d-Service cluster: %w", size, err)
		}
		for _, mode := range opts.Modes {
			if err := ctx.Err(); err != nil {
				return results, fmt.Errorf("benchmarking: %w", err)
			}
			r, err := measure(ctx, opts, progress, sc, mix, mode)
			if err != nil {
				return results, err
			}
			results = append(results, r)
		}
	}
	return results, nil
}

// measure fills one result: rendering, then the kernel steps unless
// skipped, then the peak RSS.
func measure(ctx context.Context, opts Options, progress io.Writer, sc *Scenario, mix Mix, mode sync.Mode) (Result, error) {
	prefix := fmt.Sprintf("%s %s %d services", model.IPv4, mode, mix.Services)
	fmt.Fprintf(progress, "%s: render…\n", prefix)
	r := Result{Services: mix.Services, Endpoints: mix.Endpoints, Mode: mode}
	var err error
	if r.Render, err = Render(sc.Initial, mode); err != nil {
		return r, err
	}
	if !opts.SkipKernel {
		k, err := measureKernel(ctx, sc, mode, func(step string) { fmt.Fprintf(progress, "%s: %s…\n", prefix, step) })
		if err != nil {
			return r, err
		}
		r.Kernel = &k
	}
	if r.PeakRSS, err = PeakRSS(); err != nil {
		return r, err
	}
	return r, nil
}

// measureKernel runs the scenario in a fresh namespace, then times the
// tool alone loading the first step into another and, in nftables mode,
// the kernel alone committing it into a third, deleting each.
func measureKernel(ctx context.Context, sc *Scenario, mode sync.Mode, progress func(string)) (KernelTimes, error) {
	var k KernelTimes
	err := inNamespace(func(ns string) (err error) {
		k, err = ApplyScenario(ctx, ns, mode, sc, progress)
		return err
	})
	if err != nil {
		return k, err
	}
	progress("the tool alone")
	err = inNamespace(func(ns string) (err error) {
		k.ToolLoad, err = ToolLoad(ctx, ns, mode, sc.Initial)
		return err
	})
	if err != nil || mode != sync.ModeNFTables {
		return k, err
	}
	progress("the kernel alone")
	err = inNamespace(func(ns string) (err error) {
		k.KernelCommit, err = KernelCommit(ns, sc.Initial)
		return err
	})
	return k, err
}

// inNamespace runs fn in a new namespace and deletes it.
func inNamespace(fn func(ns string) error) (err error) {
	ns, err := CreateNamespace()
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, DeleteNamespace(ns))
	}()
	return fn(ns)
}
