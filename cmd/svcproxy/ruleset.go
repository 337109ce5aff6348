package main

import (
	"bytes"
	"fmt"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/render/nftables"
)

// The rule languages render can produce.
const (
	modeIPTables = "iptables"
	modeNFTables = "nftables"
)

// renderModels returns the complete ruleset text of every model. For
// nftables the result is one `nft -f` file holding both families' tables;
// for iptables it is one restore payload per family, each headed by a
// comment naming the tool that loads it.
func renderModels(mode string, models []*model.Model) []byte {
	var buf bytes.Buffer
	for _, m := range models {
		switch mode {
		case modeIPTables:
			fmt.Fprintf(&buf, "# svcproxy %s rules: %s --noflush\n", m.Family, restoreCommand(m.Family))
			buf.Write(iptables.Render(m).Payload())
		case modeNFTables:
			// The table the nftables applier loads, which replaces
			// the one in place in the same transaction.
			fmt.Fprintf(&buf, "# svcproxy %s rules: nft -f\n", m.Family)
			buf.WriteString(nftables.RenderRuleset(m).Text)
		}
	}
	return buf.Bytes()
}

func restoreCommand(f model.Family) string {
	if f == model.IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}
