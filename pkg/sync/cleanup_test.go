package sync

import (
	"strings"
	"testing"
)

func TestCleanupRemovalPayload(t *testing.T) {
	save := "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-X - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n:DOCKER - [0:0]\n" +
		"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A PREROUTING -j DOCKER\n" +
		"-A KUBE-SERVICES -j KUBE-SEP-X\nCOMMIT\n"
	tests := []struct {
		name      string
		kubeProxy bool
		want      []string
		notWant   []string
	}{
		{
			name:    "svcproxy's chains and jumps only",
			want:    []string{":KUBE-SERVICES - [0:0]", "-X KUBE-SEP-X", `-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
			notWant: []string{"DOCKER", "KUBE-PROXY-CANARY"},
		},
		{
			name:      "kube-proxy's canary too",
			kubeProxy: true,
			want:      []string{"-X KUBE-PROXY-CANARY", "-X KUBE-SERVICES"},
			notWant:   []string{"DOCKER"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cleanup{KubeProxy: tt.kubeProxy}
			payload, _, _ := c.removalPayload("nat", parseSaved(save)["nat"])
			got := string(payload)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("payload lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("payload has %q:\n%s", w, got)
				}
			}
		})
	}
}
