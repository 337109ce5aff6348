package nfttrace

import (
	"net/netip"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

// Trace returns where p can end in table, normalized.
func Trace(table *Table, node []netip.Addr, p tracer.Packet) (tracer.Result, error) {
	routes, err := Routes(table, node, p)
	if err != nil {
		return nil, err
	}
	return tracer.Outcomes(routes), nil
}
