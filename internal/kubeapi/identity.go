package kubeapi

import (
	"fmt"
)

// CAFile returns the path of the CA certificate that signs the apiserver's
// serving certificate and every client certificate, for components that
// verify either: a controller-manager's --root-ca-file, which it hands to
// pods, or a kubelet's client CA.
func (s *Server) CAFile() string {
	return s.certs.caCert
}

// ServiceAccountKeyFile returns the path of the private key that signs
// service account tokens, for a controller-manager's
// --service-account-private-key-file.
func (s *Server) ServiceAccountKeyFile() string {
	return s.certs.serviceAccountKey
}

// WriteKubeconfig writes a kubeconfig at path for a fresh client
// certificate with the given user name and groups, signed by the CA, so
// that a component authenticates as itself (a kubelet as system:node:NAME
// in system:nodes, which the Node authorizer needs) rather than as the
// admin. Like Kubeconfig, it is for processes inside the namespace.
func (s *Server) WriteKubeconfig(path, user string, groups ...string) error {
	client, err := newClientCert(s.certs.ca, user, groups...)
	if err != nil {
		return fmt.Errorf("creating the client certificate of %s: %w", user, err)
	}
	key, err := keyPEM(client.key)
	if err != nil {
		return err
	}
	_, err = writeClientKubeconfig(path, s.URL, s.certs.caCertPEM, certPEM(client), key)
	return err
}
