package kubecluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// cniBinDir is where Debian's containernetworking-plugins installs the
// plugins.
const cniBinDir = "/usr/lib/cni"

// bridgeName is the node's pod bridge, which holds the gateway address
// (the first of PodCIDR) and one veth per pod.
const bridgeName = "cni0"

// writeCNIConfig writes the pod network's configuration into confDir: one
// bridge, with addresses from podCIDR leased by host-local into ipamDir.
// containerd adds the loopback plugin by itself.
func writeCNIConfig(confDir, ipamDir, podCIDR string) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "svcproxy-pods",
		"plugins": []any{
			map[string]any{
				"type":      "bridge",
				"bridge":    bridgeName,
				"isGateway": true,
				// Pods reach each other and the node only; no test pod
				// talks to the world, so there is nothing to masquerade.
				"ipMasq": false,
				// A pod reaching itself through a Service comes back over
				// its own veth.
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the CNI configuration: %w", err)
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", confDir, err)
	}
	path := filepath.Join(confDir, "10-svcproxy.conflist")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
