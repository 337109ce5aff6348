package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
	"github.com/svcproxy/svcproxy/pkg/sync"
)

// namespacePrefix starts the name of every namespace the benchmark makes.
const namespacePrefix = "svcproxy-bench-"

// CreateNamespace creates a network namespace with a random name and
// returns the name. The caller must DeleteNamespace it.
func CreateNamespace() (string, error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("naming a network namespace: %w", err)
	}
	name := namespacePrefix + hex.EncodeToString(suffix)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return "", fmt.Errorf("creating network namespace %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return name, nil
}

// DeleteNamespace deletes a network namespace, with every rule in it. It
// takes no context: cleanup must run even once the benchmark is cancelled.
func DeleteNamespace(name string) error {
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("deleting network namespace %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// KernelTimes is how long each step of a scenario took to apply.
type KernelTimes struct {
	FirstApply time.Duration
	// ToolLoad is how long the tool alone (nft -f, iptables-restore)
	// takes to load the same first ruleset into a fresh namespace: what
	// the kernel and the tool charge, without svcproxy around them.
	ToolLoad time.Duration
	// KernelCommit is, in nftables mode, how long the kernel takes to
	// commit the first ruleset's netlink batch, encoded beforehand, in a
	// fresh namespace: the floor under any loader. 0 in iptables modes.
	KernelCommit   time.Duration
	EndpointChange time.Duration
	ServiceAdd     time.Duration
	ServiceRemove  time.Duration
}

// Step is one model of a scenario, named for progress lines.
type Step struct {
	Name  string
	Model *model.Model
}

// Steps lists the scenario's models in the order they are applied.
func (s *Scenario) Steps() []Step {
	return []Step{
		{"first apply", s.Initial},
		{"endpoint change", s.EndpointChanged},
		{"service add", s.ServiceAdded},
		{"service remove", s.ServiceRemoved},
	}
}

// ApplyScenario applies each step of a scenario in turn inside the
// network namespace ns, the way svcproxy run does: the first step in full,
// the changes as partial syncs (incremental where the backend can). It
// times each step, and before each calls progress with the step's name.
func ApplyScenario(ctx context.Context, ns string, mode sync.Mode, sc *Scenario, progress func(step string)) (KernelTimes, error) {
	r := sync.ExecRunner{Prefix: []string{"ip", "netns", "exec", ns}}
	node := &sync.Node{Runner: r, Detector: &sync.Detector{Runner: r}, Request: sync.Request(mode),
		Stamps: &sync.KernelStamps{NetNS: "/run/netns/" + ns}, NetNS: "/run/netns/" + ns,
		Netlink: &sync.KernelNetlink{NetNS: "/run/netns/" + ns}}
	defer node.Close()
	steps := sc.Steps()
	times := make([]time.Duration, len(steps))
	for i, step := range steps {
		progress(step.Name)
		start := time.Now()
		apply := func(ctx context.Context) error {
			_, err := node.Apply(ctx, []*model.Model{step.Model}, i > 0)
			return err
		}
		if err := applyOrCancel(ctx, apply); err != nil {
			return KernelTimes{}, fmt.Errorf("applying step %q in %s: %w", step.Name, mode, err)
		}
		times[i] = time.Since(start)
	}
	return KernelTimes{FirstApply: times[0], EndpointChange: times[1], ServiceAdd: times[2], ServiceRemove: times[3]}, nil
}

// applyOrCancel runs apply, returning as soon as ctx is done. An apply
// spends part of a large sync rendering in Go, which does not watch ctx;
// returning early lets the caller delete the namespace at once on Ctrl-C.
// The abandoned apply then fails, as its namespace is gone, and its
// result is dropped.
func applyOrCancel(ctx context.Context, apply func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- apply(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the apply: %w", ctx.Err())
	}
}

// ToolLoad times the bare tool loading m's full ruleset into the
// namespace ns: `nft -f` of the nftables text, or
// `iptables-restore --noflush` of the payload (without the jumps from
// the built-in chains, a handful of rules the applier adds apart). The
// tool runs as svcproxy runs it, in the same environment, so the
// difference from the first apply is svcproxy's own work.
func ToolLoad(ctx context.Context, ns string, mode sync.Mode, m *model.Model) (time.Duration, error) {
	var input []byte
	var argv []string
	if mode == sync.ModeNFTables {
		input, argv = []byte(nftables.RenderRuleset(m).Text), []string{"nft", "-f", "-"}
	} else {
		input = iptables.Render(m).Payload()
		argv = []string{sync.IPTablesCommand(m.Family, mode, "restore"), "-w", "--noflush"}
	}
	r := sync.ExecRunner{Prefix: []string{"ip", "netns", "exec", ns}}
	start := time.Now()
	if _, err := r.Run(ctx, input, argv[0], argv[1:]...); err != nil {
		return 0, fmt.Errorf("loading the ruleset with %s alone: %w", argv[0], err)
	}
	return time.Since(start), nil
}

// KernelCommit times the kernel committing m's full nftables ruleset,
// as the netlink batch nftables mode sends, into the namespace ns. The
// batch is rendered and encoded first, untimed: what is timed is the
// one write the kernel processes the batch in.
func KernelCommit(ns string, m *model.Model) (time.Duration, error) {
	b, err := nfnl.NewEncoder(nftables.Family(m.Family), nftables.TableName).Encode(string(nftables.RenderRuleset(m).Transaction()))
	if err != nil {
		return 0, fmt.Errorf("encoding the ruleset: %w", err)
	}
	send := &sync.KernelNetlink{NetNS: "/run/netns/" + ns}
	defer send.Close()
	start := time.Now()
	if err := send.SendBatch(b.Messages); err != nil {
		return 0, fmt.Errorf("committing the ruleset: %w", err)
	}
	return time.Since(start), nil
}
