package iptables

import (
	"bytes"
	"cmp"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
)

// TestLoadTime measures how long each iptables variant takes to restore
// the rules of SVCPROXY_IPT_LOADTEST Services × 10 endpoints into an empty
// namespace and then again over them (a full resync). It is slow and needs
// root, so it runs only when that variable is set; SVCPROXY_IPT_VARIANTS
// ("legacy", "nft" or both, comma-separated; default both) picks the
// variants. The numbers go into BENCHMARKS.md.
func TestLoadTime(t *testing.T) {
	services, err := strconv.Atoi(os.Getenv("SVCPROXY_IPT_LOADTEST"))
	if err != nil || services <= 0 {
		t.Skip("skipping load-time measurement: set SVCPROXY_IPT_LOADTEST=<services> (needs root)")
	}
	variants := strings.Split(cmp.Or(os.Getenv("SVCPROXY_IPT_VARIANTS"), "legacy,nft"), ",")
	netns.RequireRoot(t)
	payload := Render(largeModel(services, 10)).Payload()
	t.Logf("payload: %d bytes, %d rules, %d chains", len(payload),
		bytes.Count(payload, []byte("\n-A ")), bytes.Count(payload, []byte("\n:")))
	for _, variant := range variants {
		netns.RequireRoot(t, "iptables-"+variant+"-restore")
		ns := netns.New(t)
		for _, what := range []string{"initial restore", "resync over it"} {
			start := time.Now()
			if _, err := ns.Run(bytes.NewReader(payload), "iptables-"+variant+"-restore", "--noflush"); err != nil {
				t.Fatalf("iptables-%s-restore: %v", variant, err)
			}
			t.Logf("iptables-%s %s: %v", variant, what, time.Since(start).Round(time.Millisecond))
		}
		out, err := ns.Run(nil, "iptables-"+variant+"-save", "-t", "nat")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("iptables-%s nat rules loaded: %d", variant, strings.Count(out, "\n-A "))
	}
}
