package model

import "testing"

func TestWarningEscapesControlCharacters(t *testing.T) {
	tests := []struct {
		name string
		w    Warning
		want string
	}{
		{"plain", Warning{"Service", "ns/a", "skipped: no ports"}, "Service ns/a: skipped: no ports"},
		{"a newline forging a line", Warning{"Service", "ns/a\nwarning: Service ns/b", "x"}, `Service ns/a\nwarning: Service ns/b: x`},
		{"a terminal escape", Warning{"Service", "ns/\x1b[31mred", "x"}, `Service ns/\x1b[31mred: x`},
		{"C1 and DEL", Warning{"Service", "ns/a\u0085\x7f", "x"}, `Service ns/a\u0085\x7f: x`},
		{"printable unicode kept", Warning{"Service", "ns/é", "x"}, "Service ns/é: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
