package main

import (
	"bytes"
	"context"
	"fmt"

	"sigs.k8s.io/knftables"

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

// nftablesTransaction renders m into a transaction of an in-memory nft and
// runs it there, which checks that every chain, set and map it refers to
// exists before anything reaches a kernel.
func nftablesTransaction(m *model.Model) (*knftables.Fake, *knftables.Transaction, error) {
	fake := knftables.NewFake(nftables.Family(m.Family), nftables.TableName)
	tx := fake.NewTransaction()
	nftables.Render(m, tx)
	if err := fake.Run(context.Background(), tx); err != nil {
		return nil, nil, fmt.Errorf("checking %s nftables transaction: %w", m.Family, err)
	}
	return fake, tx, nil
}

func nftablesText(m *model.Model) (string, error) {
	_, tx, err := nftablesTransaction(m)
	if err != nil {
		return "", err
	}
	return nftables.Text(tx), nil
}
