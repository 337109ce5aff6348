package sync

import (
	"testing"
)

func TestElementDelta(t *testing.T) {
	head := "add table ip svcproxy\nflush table ip svcproxy\nadd map ip svcproxy m { type ipv4_addr : verdict ; }\n"
	prev := splitState(head +
		"add element ip svcproxy m { 10.0.0.1 : goto a }\n" +
		"add element ip svcproxy m { 10.0.0.2 : goto b }\n" +
		"add element ip svcproxy s { 10.0.0.9 }\n")
	next := splitState(head +
		"add element ip svcproxy m { 10.0.0.1 : goto a }\n" +
		"add element ip svcproxy m { 10.0.0.2 : goto c }\n" +
		"add element ip svcproxy m { 10.0.0.3 : goto a }\n")
	if prev.skeleton != next.skeleton || prev.skeleton != head {
		t.Fatalf("skeletons differ or hold elements:\n%q\n%q", prev.skeleton, next.skeleton)
	}
	want := "delete element ip svcproxy m { 10.0.0.2 }\n" +
		"delete element ip svcproxy s { 10.0.0.9 }\n" +
		"add element ip svcproxy m { 10.0.0.2 : goto c }\n" +
		"add element ip svcproxy m { 10.0.0.3 : goto a }\n"
	if got := elementDelta(prev, next); got != want {
		t.Errorf("delta:\n%s\nwant:\n%s", got, want)
	}
	if got := elementDelta(next, next); got != "" {
		t.Errorf("delta of a state with itself: %q", got)
	}
	if s := next.stats()[0]; s.Elements != 3 {
		t.Errorf("stats count %d elements, want 3", s.Elements)
	}
}
