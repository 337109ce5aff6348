package main

import (
	"context"
	"fmt"
	"io"

	"github.com/svcproxy/svcproxy/internal/sysctl"
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
// one atomic transaction each, after preparing the node for the IPv4
// rules, as run does (sync.Node).
func (o *renderOptions) apply(ctx context.Context, out io.Writer, models []*model.Model) error {
	nl, err := o.loader.sender("")
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	r := sync.ExecRunner{}
	node := &sync.Node{Runner: r, Detector: o.newDetector(r), Request: o.req, Sysctls: sysctl.New(""), Netlink: nl}
	for _, m := range models {
		if m.Family != model.IPv4 {
			continue
		}
		if _, err := node.Initialize(ctx, m.Config); err != nil {
			return fmt.Errorf("render: %w", err)
		}
	}
	outcomes, err := node.Apply(ctx, models, false)
	for i, oc := range outcomes {
		if oc.Err == nil {
			fmt.Fprintf(out, "%s: applied %d service ports with %s\n", oc.Family, len(models[i].Services), oc.Mode)
		}
	}
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}
