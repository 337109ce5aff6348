package main

import (
	"bytes"
	"fmt"

	"github.com/svcproxy/svcproxy/pkg/model"
	"github.com/svcproxy/svcproxy/pkg/render/iptables"
	"github.com/svcproxy/svcproxy/pkg/sync"
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
func renderModels(mode string, models []*model.Model) ([]byte, error) {
	var buf bytes.Buffer
	for _, m := range models {
		switch mode {
		case modeIPTables:
			fmt.Fprintf(&buf, "# svcproxy %s rules: %s --noflush\n", m.Family, restoreCommand(m.Family))
			buf.Write(iptables.Render(m).Payload())
		case modeNFTables:
			text, err := nftablesText(m)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&buf, "# svcproxy %s rules: nft -f\n", m.Family)
			buf.WriteString(text)
		}
	}
	return buf.Bytes(), nil
}

func restoreCommand(f model.Family) string {
	if f == model.IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}

// nftablesText renders m as `nft -f` input. It is the text the nftables
// applier loads (sync.Transaction).
func nftablesText(m *model.Model) (string, error) {
	return sync.Transaction(m), nil
}
