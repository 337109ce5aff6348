package nftables

import (
	"testing"

	"sigs.k8s.io/knftables"
)

// BenchmarkRender renders 10,000 Services × 10 endpoints (every tenth
// with a NodePort) into a knftables transaction.
func BenchmarkRender(b *testing.B) {
	m := bigModel(10000, 10)
	b.ReportAllocs()
	for b.Loop() {
		tx := knftables.NewFake(Family(m.Family), TableName).NewTransaction()
		Render(m, tx)
	}
}

// BenchmarkRenderText renders the same model and turns the transaction
// into the `nft -f` input that render --dry-run prints and the kernel
// loads: the whole cost of one full sync before nft runs.
func BenchmarkRenderText(b *testing.B) {
	m := bigModel(10000, 10)
	b.ReportAllocs()
	for b.Loop() {
		tx := knftables.NewFake(Family(m.Family), TableName).NewTransaction()
		Render(m, tx)
		_ = Text(tx)
	}
}
