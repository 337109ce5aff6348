package iptables

import (
	"bytes"
	"cmp"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/netnstest"
)

// BenchmarkKernelRestore measures how long each iptables variant takes
// to restore the rules of SVCPROXY_IPT_LOADTEST Services × 10 endpoints
// into an empty namespace, and again over them (a full resync). It
// is slow and needs root, so it runs only when that variable is set;
// SVCPROXY_IPT_VARIANTS ("legacy", "nft" or both, comma-separated;
// default both) picks the variants. The numbers go into BENCHMARKS.md.
func BenchmarkKernelRestore(b *testing.B) {
	services, err := strconv.Atoi(os.Getenv("SVCPROXY_IPT_LOADTEST"))
	if err != nil || services <= 0 {
		b.Skip("skipping load-time measurement: set SVCPROXY_IPT_LOADTEST=<services> (needs root)")
	}
	netnstest.RequireRoot(b)
	payload := Render(largeModel(services, 10)).Payload()
	for _, variant := range strings.Split(cmp.Or(os.Getenv("SVCPROXY_IPT_VARIANTS"), "legacy,nft"), ",") {
		b.Run(variant, func(b *testing.B) {
			restore := "iptables-" + variant + "-restore"
			netnstest.RequireRoot(b, restore)
			load := func(ns *netns.NS) {
				if _, err := ns.Run(bytes.NewReader(payload), restore, "--noflush"); err != nil {
					b.Fatalf("%s: %v", restore, err)
				}
			}
			b.Run("initial", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					ns := netnstest.New(b)
					b.StartTimer()
					load(ns)
				}
				b.ReportMetric(float64(len(payload)), "bytes")
				b.ReportMetric(float64(bytes.Count(payload, []byte("\n-A "))), "rules")
			})
			b.Run("resync", func(b *testing.B) {
				ns := netnstest.New(b)
				load(ns)
				for b.Loop() {
					load(ns)
				}
			})
		})
	}
}
