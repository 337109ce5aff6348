// Command svcproxy is a kube-proxy-style service proxy: it turns Services
// and EndpointSlices into iptables or nftables rules.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	cmd := newRootCommand()
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "svcproxy: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "svcproxy",
		Short:         "A declarative Kubernetes service proxy: Services and EndpointSlices in, iptables or nftables rules out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRenderCommand())
	root.AddCommand(newCleanupCommand())
	root.AddCommand(newRunCommand())
	root.AddCommand(newDetectCommand())
	root.AddCommand(newTraceCommand())
	root.AddCommand(newDiffCommand())
	root.AddCommand(newTestCommand())
	return root
}
