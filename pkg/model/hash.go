package model

import (
	"crypto/sha256"
	"encoding/base32"
)

// chainHash returns the first 16 characters of base32(sha256(s)): the
// suffix kube-proxy puts on its per-service and per-endpoint chains. Using
// the same function lets a user diff a svcproxy node against a kube-proxy
// node chain by chain.
func chainHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// ServicePortHash returns the hash of a service port's chains.
func ServicePortHash(name PortName) string {
	return chainHash(name.String() + string(name.Protocol))
}

// EndpointHash returns the hash of an endpoint's chain (KUBE-SEP-).
func EndpointHash(name PortName, ep Endpoint) string {
	return chainHash(name.String() + string(name.Protocol) + ep.String())
}
