// Command pause is the image of every pod sandbox in the test cluster,
// and the one container the cluster's tests run. Nothing can be pulled
// there, so the harness builds it statically and imports it itself.
// It only holds its pod's namespaces: it waits for SIGTERM or SIGINT and
// exits cleanly.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
