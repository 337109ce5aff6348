package iptrace

import (
	"fmt"
	"net/netip"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

// Trace parses payload and returns where p can end, normalized.
func Trace(payload []byte, node []netip.Addr, p tracer.Packet) (tracer.Result, error) {
	rs, err := Parse(payload)
	if err != nil {
		return nil, fmt.Errorf("parsing payload: %w", err)
	}
	return rs.Trace(node, p)
}

// Trace returns where p can end in rs, normalized.
func (rs *Ruleset) Trace(node []netip.Addr, p tracer.Packet) (tracer.Result, error) {
	routes, err := rs.Routes(node, p)
	if err != nil {
		return nil, err
	}
	return tracer.Outcomes(routes), nil
}
