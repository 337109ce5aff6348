package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/svcproxy/svcproxy/pkg/sync"
)

// nftablesLoaderUsage explains --nftables-loader, which kube-proxy does
// not have: it always runs nft.
const nftablesLoaderUsage = "how nftables mode loads its rules: netlink (the transaction goes to the kernel as one netlink batch, the text nft would read encoded without nft; what cannot be encoded, or a host where netlink fails, falls back to nft) or nft (every transaction through nft -f, as kube-proxy)"

// loaderFlag is --nftables-loader.
type loaderFlag struct{ loader string }

func (l *loaderFlag) addFlag(f *pflag.FlagSet) {
	f.StringVar(&l.loader, "nftables-loader", "netlink", nftablesLoaderUsage)
}

// sender returns what sends nftables batches in the network namespace at
// netns, nil for nft.
func (l *loaderFlag) sender(netns string) (sync.BatchSender, error) {
	switch l.loader {
	case "netlink":
		return &sync.KernelNetlink{NetNS: netns}, nil
	case "nft":
		return nil, nil
	}
	return nil, fmt.Errorf("--nftables-loader must be netlink or nft, not %q", l.loader)
}
