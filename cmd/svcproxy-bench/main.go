// Command svcproxy-bench measures svcproxy on a synthetic cluster: syncs
// in-process through the real appliers, or, with --apiserver, the node
// binary end to end against a real kube-apiserver, beside kube-proxy.
//
// It is a command of its own, not a subcommand of svcproxy, so that the
// node binary links none of the harness: not the testing package, not the
// plotting library, not the code that builds kube-apiserver.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "svcproxy-bench: %v\n", err)
		os.Exit(1)
	}
}
