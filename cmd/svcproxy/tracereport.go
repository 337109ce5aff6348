package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/svcproxy/svcproxy/internal/tracer"
)

// traceReport is what trace prints, as text or JSON.
type traceReport struct {
	Packet string `json:"packet"`
	// Mode is the rule language walked: iptables or nftables.
	Mode   string        `json:"mode"`
	Routes []traceRoute  `json:"routes"`
	Ends   []traceEnding `json:"verdicts"`
}

// traceRoute is one way the packet can end.
type traceRoute struct {
	Outcome     string        `json:"outcome"`
	Verdict     string        `json:"verdict"`
	Endpoint    string        `json:"endpoint,omitempty"`
	Masquerade  bool          `json:"masquerade"`
	Probability float64       `json:"probability"`
	Path        []tracer.Step `json:"path"`
}

// traceEnding is one outcome, however many routes lead to it.
type traceEnding struct {
	Outcome     string  `json:"outcome"`
	Probability float64 `json:"probability"`
}

// newTraceReport merges routes that end alike by the same rules (the
// walk can reach one twice, through hooks that change nothing), and
// sorts them by outcome, so the report reads the same every time.
func newTraceReport(p tracer.Packet, mode string, routes []tracer.Route) traceReport {
	rep := traceReport{Packet: p.String(), Mode: mode}
	for _, r := range routes {
		tr := traceRoute{Outcome: r.String(), Verdict: string(r.Verdict), Masquerade: r.Masquerade, Probability: r.Probability, Path: r.Path}
		if r.Endpoint.IsValid() {
			tr.Endpoint = r.Endpoint.String()
		}
		if tr.Path == nil {
			tr.Path = []tracer.Step{}
		}
		i := slices.IndexFunc(rep.Routes, func(o traceRoute) bool { return o.Outcome == tr.Outcome && slices.Equal(o.Path, tr.Path) })
		if i >= 0 {
			rep.Routes[i].Probability += tr.Probability
			continue
		}
		rep.Routes = append(rep.Routes, tr)
	}
	slices.SortStableFunc(rep.Routes, func(a, b traceRoute) int { return cmp.Compare(a.Outcome, b.Outcome) })
	for _, r := range rep.Routes {
		if n := len(rep.Ends); n > 0 && rep.Ends[n-1].Outcome == r.Outcome {
			rep.Ends[n-1].Probability += r.Probability
			continue
		}
		rep.Ends = append(rep.Ends, traceEnding{Outcome: r.Outcome, Probability: r.Probability})
	}
	return rep
}

// writeText prints the report for a person: each route with the rules it
// takes, then the verdicts with their odds.
func (rep traceReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "%s through the %s rules\n", rep.Packet, rep.Mode)
	for i, r := range rep.Routes {
		fmt.Fprintf(w, "\nroute %d of %d, %s: %s\n", i+1, len(rep.Routes), percent(r.Probability), describeOutcome(r))
		for _, st := range r.Path {
			comment := ""
			if st.Comment != "" {
				comment = "  " + strconv.Quote(st.Comment)
			}
			fmt.Fprintf(w, "  %s %s%s\n      %s\n", st.Table, st.Chain, comment, st.Rule)
			if st.Element != "" {
				fmt.Fprintf(w, "      element %s", st.Element)
				if st.ElementComment != "" {
					fmt.Fprintf(w, "  %q", st.ElementComment)
				}
				fmt.Fprintln(w)
			}
		}
	}
	var ends []string
	for _, e := range rep.Ends {
		ends = append(ends, fmt.Sprintf("%s (%s)", e.Outcome, percent(e.Probability)))
	}
	fmt.Fprintf(w, "\nverdict: %s\n", strings.Join(ends, ", "))
}

func describeOutcome(r traceRoute) string {
	var s string
	switch {
	case r.Verdict == string(tracer.Reject):
		s = "rejected"
	case r.Verdict == string(tracer.Drop):
		s = "dropped"
	case r.Endpoint != "":
		s = "DNAT to " + r.Endpoint
	default:
		s = "accepted, not DNATed: no Service takes it"
	}
	if r.Masquerade {
		s += ", masqueraded"
	}
	return s
}

// percent prints a probability as a percentage, to two decimals where
// it is not whole (a third is 33.33%).
func percent(p float64) string {
	s := strconv.FormatFloat(p*100, 'f', 2, 64)
	return strings.TrimSuffix(s, ".00") + "%"
}
