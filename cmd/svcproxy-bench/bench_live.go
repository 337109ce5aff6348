package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/svcproxy/svcproxy/pkg/bench/live"
)

// runLive runs the end-to-end benchmark and prints its table.
func (o *benchOptions) runLive(ctx context.Context, stdout, stderr io.Writer) error {
	opts, cleanup, err := o.liveOptions(ctx, stderr)
	if err != nil {
		return err
	}
	results, runErr := live.Run(ctx, opts)
	runErr = errors.Join(runErr, cleanup())
	if err := live.WriteTable(stdout, results); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if o.csvPath != "" {
		return writeFile(o.csvPath, func(w io.Writer) error { return live.WriteCSV(w, results) })
	}
	return nil
}

// liveOptions checks the flags and turns them into live.Options, with
// the function that removes a temporary work directory afterwards.
// Without --svcproxy it builds the node binary into the work directory.
func (o *benchOptions) liveOptions(ctx context.Context, stderr io.Writer) (live.Options, func() error, error) {
	none := func() error { return nil }
	modes, err := o.cluster()
	if err != nil {
		return live.Options{}, none, err
	}
	if o.live.changes < 1 {
		return live.Options{}, none, errors.New("--changes must be at least 1")
	}
	svcproxy, err := o.live.svcproxyPath()
	if err != nil {
		return live.Options{}, none, err
	}
	if os.Geteuid() != 0 {
		return live.Options{}, none, errors.New("--apiserver needs root, to run the proxies in network namespaces")
	}
	dir, cleanup := o.live.workDir, none
	if dir == "" {
		if dir, err = os.MkdirTemp("", "svcproxy-bench-"); err != nil {
			return live.Options{}, none, fmt.Errorf("creating a work directory: %w", err)
		}
		cleanup = func() error { return os.RemoveAll(dir) }
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return live.Options{}, none, fmt.Errorf("creating the work directory: %w", err)
	}
	if svcproxy == "" {
		if svcproxy, err = buildSvcProxy(ctx, dir, stderr); err != nil {
			return live.Options{}, none, errors.Join(err, cleanup())
		}
	}
	proxies := []live.Proxy{live.SvcProxy}
	if o.live.compare {
		proxies = append(proxies, live.KubeProxy)
	}
	return live.Options{
		Sizes: o.sizes, Mix: o.mix, Modes: modes, Proxies: proxies, SvcProxy: svcproxy,
		Changes: o.live.changes, Timeout: o.live.timeout, Dir: dir, Progress: stderr,
	}, cleanup, nil
}
