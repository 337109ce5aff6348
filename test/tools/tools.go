//go:build tools

// Package tools records the commands this module builds, so that
// `go mod tidy` keeps k8s.io/kubernetes/cmd/kube-apiserver's dependencies.
// Build them with:
//
//	go build -o DIR/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
//	go build -o DIR/etcd ./etcd
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
