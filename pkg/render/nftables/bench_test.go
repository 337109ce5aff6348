package nftables

import (
	"testing"

	"sigs.k8s.io/knftables"
)

// BenchmarkRender renders 10,000 Services × 10 endpoints (every tenth
// with a NodePort) and produces the transaction text.
func BenchmarkRender(b *testing.B) {
	m := bigModel(10000, 10)
	b.ReportAllocs()
	for b.Loop() {
		tx := knftables.NewFake(Family(m.Family), TableName).NewTransaction()
		Render(m, tx)
		_ = Text(tx)
	}
}
