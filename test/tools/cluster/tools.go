//go:build tools

// Package tools records the commands this module builds, so that
// `go mod tidy` keeps their dependencies. Build them with:
//
//	go build -o DIR/kubelet k8s.io/kubernetes/cmd/kubelet
//	go build -o DIR/kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
//	go build -o DIR/kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
