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
	const name = "svcproxy-test"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   url,
		CertificateAuthorityData: certs.caCertPEM,
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certs.adminCertPEM,
		ClientKeyData:         certs.adminKeyPEM,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}
