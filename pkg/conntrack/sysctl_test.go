package conntrack

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTCPBeLiberal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string // "" for no file
		want    bool
		wantErr bool
	}{
		{name: "set", content: "1\n", want: true},
		{name: "unset", content: "0\n", want: false},
		{name: "no conntrack module", want: false},
		{name: "garbage", content: "yes\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.content != "" {
				path := filepath.Join(root, tcpBeLiberal)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := TCPBeLiberal(root)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("TCPBeLiberal = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
