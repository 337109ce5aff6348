package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildSvcProxy checks the build that stands in for --svcproxy: it
// works from the checkout, and elsewhere it fails saying what to do.
func TestBuildSvcProxy(t *testing.T) {
	tests := []struct {
		name    string
		outside bool
		wantErr string
	}{
		{name: "from the checkout"},
		{name: "outside any module", outside: true, wantErr: "pass --svcproxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.outside {
				t.Chdir(t.TempDir())
			}
			path, err := buildSvcProxy(context.Background(), t.TempDir(), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error mentioning %q", path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || !filepath.IsAbs(path) || fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("built %q (stat: %v), want an absolute path to an executable", path, err)
			}
		})
	}
}
