package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/svcproxy/svcproxy/pkg/bench"
	"github.com/svcproxy/svcproxy/pkg/bench/live"
)

// runLive runs the end-to-end benchmark and prints its table.
func (o *benchOptions) runLive(ctx context.Context, stdout, stderr io.Writer) error {
	opts, cleanup, err := o.liveOptions(stderr)
	if err != nil {
		return err
	}
	results, runErr := live.Run(ctx, opts)
	runErr = errors.Join(runErr, cleanup())
	if err := live.WriteTable(stdout, results); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return fmt.Errorf("bench: %w", runErr)
	}
	if o.csvPath != "" {
		return writeFile(o.csvPath, func(w io.Writer) error { return live.WriteCSV(w, results) })
	}
	return nil
}

// liveOptions checks the flags and turns them into live.Options, with
// the function that removes a temporary work directory afterwards.
func (o *benchOptions) liveOptions(stderr io.Writer) (live.Options, func() error, error) {
	none := func() error { return nil }
	modes, err := bench.ParseModes(o.modes)
	if err != nil {
		return live.Options{}, none, err
	}
	for _, size := range o.sizes {
		mix := o.mix
		mix.Services = size
		if err := mix.Validate(); err != nil {
			return live.Options{}, none, fmt.Errorf("bench: %w", err)
		}
	}
	if os.Geteuid() != 0 {
		return live.Options{}, none, errors.New("bench --apiserver: needs root, to run the proxies in network namespaces")
	}
	if o.live.changes < 1 {
		return live.Options{}, none, errors.New("bench: --changes must be at least 1")
	}
	self, err := os.Executable()
	if err != nil {
		return live.Options{}, none, fmt.Errorf("bench: finding the svcproxy executable: %w", err)
	}
	dir, cleanup := o.live.workDir, none
	if dir == "" {
		if dir, err = os.MkdirTemp("", "svcproxy-bench-"); err != nil {
			return live.Options{}, none, fmt.Errorf("bench: %w", err)
		}
		cleanup = func() error { return os.RemoveAll(dir) }
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return live.Options{}, none, fmt.Errorf("bench: %w", err)
	}
	proxies := []live.Proxy{live.SvcProxy}
	if o.live.compare {
		proxies = append(proxies, live.KubeProxy)
	}
	return live.Options{
		Sizes: o.sizes, Mix: o.mix, Modes: modes, Proxies: proxies, SvcProxy: self,
		Changes: o.live.changes, Timeout: o.live.timeout, Dir: dir, Progress: stderr,
	}, cleanup, nil
}
