package kubeapi

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// restConfig builds the admin client configuration for the test process.
func restConfig(url string, certs *pki, dialer *nsDialer) *rest.Config {
	return &rest.Config{
		Host: url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   certs.caCertPEM,
			CertData: certs.adminCertPEM,
			KeyData:  certs.adminKeyPEM,
		},
		Dial: dialer.DialContext,
		// client-go's default of 5 QPS would make tests that create many
		// objects wait on the client instead of the server.
		QPS:   100,
		Burst: 200,
	}
}

// writeKubeconfig writes a kubeconfig with the admin credentials embedded,
// so the file alone is enough for a process in the namespace, and returns
// its path.
func writeKubeconfig(path, url string, certs *pki) (string, error) {
	return writeClientKubeconfig(path, url, certs.caCertPEM, certs.adminCertPEM, certs.adminKeyPEM)
}

// writeClientKubeconfig writes a kubeconfig for one client certificate,
// embedded with its key and the CA, and returns its path.
func writeClientKubeconfig(path, url string, caPEM, certPEM, keyPEM []byte) (string, error) {
	const name = "svcproxy-test"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   url,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}
