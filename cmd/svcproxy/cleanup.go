package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

func newCleanupCommand() *cobra.Command {
	c := &sync.Cleanup{Runner: sync.ExecRunner{}, Tables: &sync.KernelNetlink{}}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove every rule svcproxy installed, in every mode",
		Long: `Cleanup removes svcproxy's nftables tables and its iptables chains, with
their jumps from the built-in chains, in both iptables variants and both IP
families. Rules that other programs installed are left alone. With
--kube-proxy it also removes kube-proxy's leftovers, so svcproxy can take
over a node that ran kube-proxy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			report, err := c.Run(cmd.Context())
			for _, line := range report {
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if len(report) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to remove")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&c.KubeProxy, "kube-proxy", false, "also remove kube-proxy's chains and nftables tables")
	return cmd
}
