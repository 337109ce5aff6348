//go:build tools

// Package tools records the commands this module builds, so that
// `go mod tidy` keeps the dependencies of kube-apiserver and of
// kube-proxy (which `svcproxy bench --compare-kube-proxy` runs).
// Build them with:
//
//	go build -o DIR/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
//	go build -o DIR/kube-proxy k8s.io/kubernetes/cmd/kube-proxy
//	go build -o DIR/etcd ./etcd
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
