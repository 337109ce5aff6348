package kubecluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// kubeletParams are what the kubelet's configuration depends on.
type kubeletParams struct {
	Dir        string // scratch for the kubelet's root, manifests and plugins
	CAFile     string // verifies clients of the kubelet's own API
	Socket     string // containerd's
	CgroupRoot string
}

// writeKubeletConfig writes a KubeletConfiguration into p.Dir and returns
// its path. JSON is YAML, and encoding/json sorts the keys.
func writeKubeletConfig(p kubeletParams) (string, error) {
	conf := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": p.CAFile},
		},
		"authorization":            map[string]any{"mode": "Webhook"},
		"containerRuntimeEndpoint": "unix://" + p.Socket,
		// The hosts are on cgroup v1 (hybrid), which the kubelet 1.36
		// refuses unless told otherwise, and have no systemd to drive.
		"failCgroupV1": false,
		"cgroupDriver": "cgroupfs",
		// A root of the cluster's own keeps its kubepods tree apart from
		// any other cluster on the host, and easy to remove.
		"cgroupRoot": p.CgroupRoot,
		// The test process lacks CAP_SYS_RESOURCE, so the default of -999
		// cannot be set.
		"oomScoreAdj": 0,
		// Images cannot be pulled again, so none may be collected.
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"staticPodPath":               filepath.Join(p.Dir, "manifests"),
		"volumePluginDir":             filepath.Join(p.Dir, "volume-plugins"),
		"readOnlyPort":                0,
		"healthzBindAddress":          "127.0.0.1",
		"clusterDomain":               "cluster.local",
		// Where a test that needs names deploys its cluster DNS; without
		// one, names do not resolve and nothing else changes.
		"clusterDNS": []string{DNSServiceIP},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding the kubelet configuration: %w", err)
	}
	path := filepath.Join(p.Dir, "config.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// kubeletArgs are the kubelet's flags beside its configuration file.
func kubeletArgs(dir, config, kubeconfig string) []string {
	return []string{
		"--config=" + config,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + filepath.Join(dir, "root"),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeIP,
		"--v=2",
	}
}
