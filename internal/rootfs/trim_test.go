package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrimStaysInside gives trim a tree whose var/lib is an absolute link,
// as var/run is in Debian, to a directory outside the tree: trim must
// refuse rather than empty the directory the link names on the host.
func TestTrimStaysInside(t *testing.T) {
	outside := t.TempDir()
	lists := filepath.Join(outside, "apt", "lists")
	if err := os.MkdirAll(lists, 0o755); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(lists, "InRelease")
	if err := os.WriteFile(kept, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "var", "lib")); err != nil {
		t.Fatal(err)
	}
	err := trim(root)
	if err == nil || !strings.Contains(err.Error(), "goes through a symbolic link") {
		t.Errorf("trim: %v, want a refusal", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the file outside the tree: %v", err)
	}
}
