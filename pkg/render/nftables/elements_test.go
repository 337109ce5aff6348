package nftables

import (
	"strings"
	"testing"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// TestElementCommentIsCut checks that a port name longer than nft keeps
// on an element is cut to 128 bytes, and a short one kept whole.
func TestElementCommentIsCut(t *testing.T) {
	for _, tt := range []struct {
		port model.PortName
		want string
	}{
		{model.PortName{Namespace: "demo", Name: "web", Port: "http"}, "demo/web:http"},
		{model.PortName{Namespace: "demo", Name: "web"}, "demo/web"},
		{model.PortName{Namespace: "demo", Name: strings.Repeat("a", 200), Port: "http"}, "demo/" + strings.Repeat("a", 123)},
	} {
		var l elementList
		l.addCommented("10.0.0.1 . tcp . 80", tt.port, "goto x")
		if got, want := string(l.body(0)), `10.0.0.1 . tcp . 80 comment "`+tt.want+`" : goto x`; got != want {
			t.Errorf("element %q, want %q", got, want)
		}
		if string(l.key(0)) != "10.0.0.1 . tcp . 80" {
			t.Errorf("key %q", l.key(0))
		}
	}
}
