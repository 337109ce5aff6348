// Command etcd is the etcd server, built from the version that
// k8s.io/kubernetes requires so that the harness runs a supported pair.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
