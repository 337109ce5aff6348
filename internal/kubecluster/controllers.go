package kubecluster

import "path/filepath"

// controllerManagerArgs configure kube-controller-manager with the admin
// credentials. It needs the CA to publish as kube-root-ca.crt, without
// which no service account token volume mounts, and the signing key to
// create tokens.
func controllerManagerArgs(dir, kubeconfig, caFile, saKey string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--root-ca-file=" + caFile,
		"--service-account-private-key-file=" + saKey,
		"--use-service-account-credentials=false",
		"--flex-volume-plugin-dir=" + filepath.Join(dir, "flexvolume"),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
	}
}

// schedulerArgs configure kube-scheduler with the admin credentials.
func schedulerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
	}
}
