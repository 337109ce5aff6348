package sync

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/svcproxy/svcproxy/internal/netnstest"
	"github.com/svcproxy/svcproxy/pkg/render/nftables/nfnl"
)

// TestKeptNetlinkSockets sends batches and reads the generation, again
// and again, over the sockets KernelNetlink and KernelStamps keep: each
// transaction must land in the namespace the socket was opened in and
// bump the generation read after it; a refused batch must not leave its
// errors to answer the next request; and a closed socket opens again.
func TestKeptNetlinkSockets(t *testing.T) {
	netnstest.RequireRoot(t, "nft")
	ns := netnstest.New(t)
	path := "/run/netns/" + ns.Name
	send, stamps := &KernelNetlink{NetNS: path}, &KernelStamps{NetNS: path}
	t.Cleanup(func() { send.Close(); stamps.Close() })
	enc := nfnl.NewEncoder(knftables.IPv4Family, "kept")
	commit := func(text string) error {
		b, err := enc.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if err := send.SendBatch(b.Messages); err != nil {
			return err
		}
		enc.Commit(b)
		return nil
	}
	generation := func() int {
		gen, err := stamps.Generation()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(gen)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := commit("add table ip kept\nadd set ip kept s { type ipv4_addr ; }\n"); err != nil {
		t.Fatal(err)
	}
	last := generation()
	kept := send.conn.file
	for i := range 4 {
		// Each step deletes an element, which is what made closing a
		// socket slow; then, halfway, a refused batch and a closed socket.
		text := fmt.Sprintf("add element ip kept s { 10.0.0.%d }\n", i+1)
		if i > 0 {
			text = fmt.Sprintf("delete element ip kept s { 10.0.0.%d }\n", i) + text
		}
		if i < 2 && send.conn.file != kept {
			t.Fatalf("step %d: the batch went over a new socket", i)
		}
		if i == 2 {
			var be *BatchError
			if err := commit("add rule ip kept nowhere accept\n"); !errors.As(err, &be) {
				t.Fatalf("a batch naming no chain: %v, want the kernel's refusal", err)
			}
			send.Close()
		}
		if err := commit(text); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if gen := generation(); gen <= last {
			t.Fatalf("step %d: generation %d after %d, want it bumped by the commit", i, gen, last)
		} else {
			last = gen
		}
	}
	out, err := ns.Run(nil, "nft", "list", "set", "ip", "kept", "s")
	if err != nil || !strings.Contains(out, "elements = { 10.0.0.4 }") {
		t.Fatalf("the set in the namespace: %v\n%s", err, out)
	}
	// A batch larger than the socket's buffer has held so far must
	// still go in one write: the kept socket grows its buffer.
	var large strings.Builder
	large.WriteString("add element ip kept s { ")
	for i := range 30000 {
		fmt.Fprintf(&large, "10.1.%d.%d, ", i/250, i%250+1)
	}
	large.WriteString("10.2.0.1 }\n")
	if err := commit(large.String()); err != nil {
		t.Fatalf("a batch of 30,001 elements over the kept socket: %v", err)
	}
	tables, err := send.NFTablesTables()
	if err != nil || strings.Join(tables, ",") != "ip kept" {
		t.Fatalf("tables listed over the kept socket: %q, %v; want only ip kept", tables, err)
	}
}
