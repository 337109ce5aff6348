package main

import (
	"context"
	"fmt"
	"io"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// newDetector returns the detector render and cleanup use on this host.
func (o *renderOptions) newDetector(r sync.Runner) *sync.Detector {
	return &sync.Detector{Runner: r, NoSanityCheck: o.noSanityCheck}
}

// print writes the ruleset of every model. With --mode auto the rule
// language of each family is the one its detected backend speaks.
func (o *renderOptions) print(ctx context.Context, out io.Writer, models []*model.Model) error {
	for _, m := range models {
		lang := modeIPTables
		switch o.req {
		case sync.RequestNFTables:
			lang = modeNFTables
		case sync.RequestAuto:
			d, err := o.newDetector(sync.ExecRunner{}).Detect(ctx, o.req, m.Family)
			if err != nil {
				return fmt.Errorf("render: detecting the %s backend: %w", m.Family, err)
			}
			if d.Mode == sync.ModeNFTables {
				lang = modeNFTables
			}
		}
		if _, err := out.Write(renderModels(lang, []*model.Model{m})); err != nil {
			return fmt.Errorf("writing ruleset: %w", err)
		}
	}
	return nil
}

// apply applies every model through the backend detected for its family,
// one atomic transaction each.
func (o *renderOptions) apply(ctx context.Context, out io.Writer, models []*model.Model) error {
	r := sync.ExecRunner{}
	det := o.newDetector(r)
	for _, m := range models {
		d, err := det.Detect(ctx, o.req, m.Family)
		if err != nil {
			return fmt.Errorf("render: detecting the %s backend: %w", m.Family, err)
		}
		if _, err := sync.NewApplier(r, d.Mode, m.Family).Apply(ctx, m, false); err != nil {
			return fmt.Errorf("render: %w", err)
		}
		fmt.Fprintf(out, "%s: applied %d service ports with %s\n", m.Family, len(m.Services), d.Mode)
	}
	return nil
}
