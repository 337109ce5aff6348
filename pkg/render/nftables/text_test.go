package nftables

import (
	"fmt"
	"strings"
	"testing"
)

func TestCompactElements(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "consecutive elements of one set merge",
			in: "add set ip t s { type ipv4_addr ; }\n" +
				"add element ip t s { 10.0.0.1 }\n" +
				"add element ip t s { 10.0.0.2 }\n" +
				"add element ip t m { tcp . 80 : goto c }\n",
			want: "add set ip t s { type ipv4_addr ; }\n" +
				"add element ip t s { 10.0.0.1, 10.0.0.2 }\n" +
				"add element ip t m { tcp . 80 : goto c }\n",
		},
		{
			name: "other commands end a run",
			in:   "add element ip t s { 1.1.1.1 }\nflush set ip t s\nadd element ip t s { 2.2.2.2 }\n",
			want: "add element ip t s { 1.1.1.1 }\nflush set ip t s\nadd element ip t s { 2.2.2.2 }\n",
		},
		{
			name: "non-element lines untouched",
			in:   "add table ip t\nadd rule ip t c ip daddr { 1.1.1.1, 2.2.2.2 } accept\n",
			want: "add table ip t\nadd rule ip t c ip daddr { 1.1.1.1, 2.2.2.2 } accept\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compactElements(tt.in); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestCompactElementsSplitsLongRuns(t *testing.T) {
	var in strings.Builder
	n := 2*maxElementsPerCommand + 1
	for i := range n {
		fmt.Fprintf(&in, "add element ip t s { %d }\n", i)
	}
	got := compactElements(in.String())
	if lines := strings.Count(got, "\n"); lines != 3 {
		t.Errorf("got %d commands for %d elements, want 3", lines, n)
	}
	if elems := strings.Count(got, ",") + strings.Count(got, "\n"); elems != n {
		t.Errorf("got %d elements, want %d", elems, n)
	}
}
