package bench

import (
	"context"
	"errors"
	"testing"
)

// applierFunc is an apply function for applyOrCancel.
type applierFunc = func(ctx context.Context) error

func TestApplyOrCancel(t *testing.T) {
	errRejected := errors.New("rejected")
	block := make(chan struct{})
	defer close(block)
	tests := []struct {
		name    string
		apply   applierFunc
		cancel  bool
		wantErr error
	}{
		{name: "applied", apply: func(context.Context) error { return nil }},
		{name: "rejected", apply: func(context.Context) error { return errRejected }, wantErr: errRejected},
		{
			name:    "cancelled while the apply ignores ctx",
			apply:   func(context.Context) error { <-block; return nil },
			cancel:  true,
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			if err := applyOrCancel(ctx, tt.apply); !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}
