//go:build tools

// Package tools records the commands this module builds, so that
// `go mod tidy` keeps their dependencies. Build them with:
//
//	go build -o DIR/kubelet k8s.io/kubernetes/cmd/kubelet
//	go build -o DIR/kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
//	go build -o DIR/kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
//	go build -o DIR/kubectl k8s.io/kubernetes/cmd/kubectl
//	CGO_ENABLED=0 go build -o DIR/agnhost k8s.io/kubernetes/test/images/agnhost
//	go test -c -o DIR/e2e.test k8s.io/kubernetes/test/e2e
//
// e2e.test and agnhost are upstream's end-to-end tests and the image its
// Service tests run; test/e2e/network is listed beside test/e2e because
// only the test files of test/e2e import it.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/test/e2e"
	_ "k8s.io/kubernetes/test/e2e/network"
	_ "k8s.io/kubernetes/test/images/agnhost"
)
