package model

import (
	"crypto/sha256"
	"encoding/base32"
	"net/netip"
)

// chainHash returns the first 16 characters of base32(sha256(s)): the
// suffix kube-proxy puts on its per-service and per-endpoint chains. Using
// the same function lets a user diff a svcproxy node against a kube-proxy
// node chain by chain. Sixteen characters are the encoding of the
// digest's first ten bytes, and only those are encoded: a full Build
// hashes every endpoint, 100,000 at 10,000 Services.
func chainHash(s []byte) string {
	sum := sha256.Sum256(s)
	var out [16]byte
	base32.StdEncoding.Encode(out[:], sum[:10])
	return string(out[:])
}

// appendPortName appends what hashes a port name: "namespace/name:port"
// (PortName.String) and the protocol.
func appendPortName(b []byte, name PortName) []byte {
	b = append(append(append(b, name.Namespace...), '/'), name.Name...)
	if name.Port != "" {
		b = append(append(b, ':'), name.Port...)
	}
	return append(b, name.Protocol...)
}

// ServicePortHash returns the hash of a service port's chains.
func ServicePortHash(name PortName) string {
	var buf [128]byte
	return chainHash(appendPortName(buf[:0], name))
}

// EndpointHash returns the hash of an endpoint's chain (KUBE-SEP-).
func EndpointHash(name PortName, ep Endpoint) string {
	var buf [192]byte
	return chainHash(netip.AddrPortFrom(ep.IP, ep.Port).AppendTo(appendPortName(buf[:0], name)))
}
