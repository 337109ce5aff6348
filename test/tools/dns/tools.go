//go:build tools

// Package tools records the command this module builds, so that
// `go mod tidy` keeps its dependencies. Build it with:
//
//	go build -o DIR/coredns github.com/coredns/coredns
package tools

import (
	_ "github.com/coredns/coredns"
)
