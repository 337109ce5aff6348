package iptables

import (
	"bytes"
	"fmt"
	"strings"
)

// Both iptables variants commit a restore table by table, at each
// COMMIT line: a payload whose nat table is rejected leaves its filter
// table, committed before, in force. Appliers make a family's apply
// all-or-nothing by saving the tables that come before another one in
// the payload and, when a later table fails, putting them back.

// LeadingTables returns the tables of a payload that another table
// follows, in payload order: those a failure further on finds already
// committed.
func LeadingTables(payload []byte) []string {
	var names []string
	for line := range bytes.Lines(payload) {
		if len(line) > 1 && line[0] == '*' {
			names = append(names, string(bytes.TrimSpace(line[1:])))
		}
	}
	if len(names) == 0 {
		return nil
	}
	return names[:len(names)-1]
}

// CommittedBefore returns the tables of a restore payload whose COMMIT
// line comes before line, the 1-based line iptables-restore failed at:
// the tables the failed restore left committed. iptables-nft finds most
// errors only when it commits, and names the COMMIT line; the last table
// is never among them, since a restore that failed failed in it at the
// latest.
func CommittedBefore(payload []byte, line int) []string {
	leading := LeadingTables(payload)
	var names []string
	table, n := "", 0
	for l := range bytes.Lines(payload) {
		n++
		if n >= line {
			break
		}
		switch s := string(bytes.TrimSpace(l)); {
		case strings.HasPrefix(s, "*"):
			table = s[1:]
		case s == "COMMIT" && table != "":
			names = append(names, table)
			table = ""
		}
	}
	return names[:min(len(names), len(leading))]
}

// RollbackPayload returns the iptables-restore input, to be loaded
// without --noflush, that puts each of tables back exactly as saved
// holds its iptables-save output: whatever the failed restore committed
// there, svcproxy's or not, is replaced by what was there before it.
// Output iptables-nft-save could not print in full is refused, since
// loading it would drop the rules it left out.
func RollbackPayload(saved map[string][]byte, tables []string) ([]byte, error) {
	var b []byte
	for _, t := range tables {
		out, ok := saved[t]
		switch {
		case ok && len(bytes.TrimSpace(out)) == 0:
			// The table did not exist: loading it empty flushes it.
			out = []byte("*" + t + "\nCOMMIT\n")
		case !ok:
			return nil, fmt.Errorf("the %s table was not saved", t)
		case bytes.Contains(out, []byte("is incompatible")):
			return nil, fmt.Errorf("the %s table holds rules iptables-save cannot print", t)
		case !bytes.Contains(out, []byte("*"+t+"\n")):
			return nil, fmt.Errorf("the saved %s table is not in iptables-save's format", t)
		}
		b = append(b, out...)
	}
	return b, nil
}
