package bench

import (
	"strings"
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{name: "present", status: "Name:\tsvcproxy\nVmPeak:\t  900 kB\nVmHWM:\t   52400 kB\nVmRSS:\t 1 kB\n", want: 52400 * 1024},
		{name: "missing", status: "Name:\tsvcproxy\n", wantErr: true},
		{name: "garbled", status: "VmHWM:\tlots kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmHWM(strings.NewReader(tt.status))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPeakRSS(t *testing.T) {
	got, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		t.Errorf("peak RSS of a running test is 0")
	}
}
