package kubecluster

import "testing"

// TestOwnerPID checks which names removeStale may consider its own: only
// those with the prefix, a PID and a suffix.
func TestOwnerPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int
	}{
		{name: "cluster", in: "svcproxy-cluster-4242-1a2b3c4d", want: 4242},
		{name: "another prefix", in: "svcproxy-test-4242-1a2b3c4d", want: 0},
		{name: "no pid", in: "svcproxy-cluster-1a2b3c4d", want: 0},
		{name: "no suffix", in: "svcproxy-cluster-4242", want: 0},
		{name: "pid zero", in: "svcproxy-cluster-0-1a2b3c4d", want: 0},
		{name: "negative pid", in: "svcproxy-cluster--1-1a2b3c4d", want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ownerPID(tc.in); got != tc.want {
				t.Errorf("ownerPID(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	if got := ownNamePrefix(); ownerPID(got+"1a2b3c4d") == 0 {
		t.Errorf("ownNamePrefix() = %q: its names have no owner", got)
	}
}
