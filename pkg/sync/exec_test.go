package sync

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWithHugePages(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{
			name: "no tunables yet",
			env:  []string{"PATH=/bin"},
			want: []string{"PATH=/bin", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"},
		},
		{
			name: "other tunables are kept",
			env:  []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2"},
			want: []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2", "GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"},
		},
		{
			name: "the operator's choice stands",
			env:  []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0"},
			want: []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0"},
		},
		{
			name: "the last GLIBC_TUNABLES counts",
			env:  []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0", "GLIBC_TUNABLES=glibc.pthread.rseq=0"},
			want: []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0", "GLIBC_TUNABLES=glibc.pthread.rseq=0", "GLIBC_TUNABLES=glibc.pthread.rseq=0:glibc.malloc.hugetlb=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, withHugePages(tt.env)); diff != "" {
				t.Errorf("withHugePages(%q) (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

// TestExecRunnerHugePages checks what a real child process sees.
func TestExecRunnerHugePages(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{name: "by default", want: "glibc.malloc.hugetlb=1"},
		{name: "set in Env", env: []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, want: "glibc.malloc.hugetlb=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GLIBC_TUNABLES", "")
			out, err := ExecRunner{Env: tt.env}.Run(context.Background(), nil, "sh", "-c", `printf %s "$GLIBC_TUNABLES"`)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); got != tt.want {
				t.Errorf("child's GLIBC_TUNABLES = %q, want %q", got, tt.want)
			}
		})
	}
}
