package kubeapi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the set of files the apiserver and its admin client need, all
// generated fresh for each Start so that no key outlives its test.
type pki struct {
	caCert                    string // CA that signs the serving and client certs
	servingCert               string
	servingKey                string
	serviceAccountKey         string // private key, signs service account tokens
	serviceAccountPublic      string // public key, verifies them
	kubeletClientCert         string // the apiserver's identity towards kubelets
	kubeletClientKey          string
	adminCertPEM, adminKeyPEM []byte
	caCertPEM                 []byte
	ca                        *keyPair // kept to sign the client certificates of Server.WriteKubeconfig
}

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// servingIPs are the addresses clients use to reach the apiserver:
// loopback inside the network namespace, and the kubernetes Service's
// cluster IP (the first address of serviceCIDR) for in-cluster clients.
// Options.Address joins them when set.
var servingIPs = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(KubernetesServiceIP)}

// servingNames are the DNS names of the kubernetes Service, so that a
// client configured the in-cluster way also verifies the certificate.
var servingNames = []string{
	"localhost", "kubernetes", "kubernetes.default",
	"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
}

// newPKI writes a CA, a serving cert (for servingIPs and address, if
// any), a service account key pair, the apiserver's client cert for
// kubelets and an admin client cert into dir. ECDSA P-256 keys keep this
// to milliseconds; RSA generation would add up to seconds per Start.
func newPKI(dir, address string) (*pki, error) {
	ca, err := newCert(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "svcproxy-test-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the CA: %w", err)
	}
	ips := servingIPs
	if address != "" {
		ip := net.ParseIP(address)
		if ip == nil {
			return nil, fmt.Errorf("apiserver address %q is not an IP address", address)
		}
		ips = append(append([]net.IP(nil), servingIPs...), ip)
	}
	serving, err := newCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    servingNames,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the serving certificate: %w", err)
	}
	// system:masters is bound to cluster-admin by the bootstrap RBAC
	// policy, so the admin client passes RBAC without any extra objects.
	admin, err := newClientCert(ca, "svcproxy-test-admin", "system:masters")
	if err != nil {
		return nil, fmt.Errorf("creating the admin client certificate: %w", err)
	}
	// Kubelets authorize the apiserver's requests (logs, exec) through
	// it, and RBAC gives system:masters everything.
	kubeletClient, err := newClientCert(ca, "kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return nil, fmt.Errorf("creating the kubelet client certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the service account key: %w", err)
	}
	p := &pki{
		caCert:               filepath.Join(dir, "ca.crt"),
		servingCert:          filepath.Join(dir, "apiserver.crt"),
		servingKey:           filepath.Join(dir, "apiserver.key"),
		serviceAccountKey:    filepath.Join(dir, "sa.key"),
		serviceAccountPublic: filepath.Join(dir, "sa.pub"),
		kubeletClientCert:    filepath.Join(dir, "kubelet-client.crt"),
		kubeletClientKey:     filepath.Join(dir, "kubelet-client.key"),
		caCertPEM:            certPEM(ca),
		adminCertPEM:         certPEM(admin),
		ca:                   ca,
	}
	if p.adminKeyPEM, err = keyPEM(admin.key); err != nil {
		return nil, err
	}
	return p, p.write(serving, kubeletClient, saKey)
}

// write saves the files the apiserver reads.
func (p *pki) write(serving, kubeletClient *keyPair, saKey *ecdsa.PrivateKey) error {
	servingKey, err := keyPEM(serving.key)
	if err != nil {
		return err
	}
	kubeletClientKey, err := keyPEM(kubeletClient.key)
	if err != nil {
		return err
	}
	saPrivate, err := keyPEM(saKey)
	if err != nil {
		return err
	}
	saPublic, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return fmt.Errorf("encoding the service account public key: %w", err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{p.caCert, p.caCertPEM},
		{p.servingCert, certPEM(serving)},
		{p.servingKey, servingKey},
		{p.kubeletClientCert, certPEM(kubeletClient)},
		{p.kubeletClientKey, kubeletClientKey},
		{p.serviceAccountKey, saPrivate},
		{p.serviceAccountPublic, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPublic})},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return nil
}

// newClientCert creates a client certificate for user in groups, signed
// by ca: the identity the apiserver authenticates, and RBAC authorizes.
func newClientCert(ca *keyPair, user string, groups ...string) (*keyPair, error) {
	return newCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// newCert creates a key and a certificate from template, signed by parent,
// or self-signed when parent is nil.
func newCert(parent *keyPair, template *x509.Certificate) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	template.SerialNumber = serial
	// Backdated an hour so a clock a little behind still accepts it; a
	// day is far longer than any test yet expires before it could leak.
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(24 * time.Hour)
	signerCert, signerKey := template, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("signing %q: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", template.Subject.CommonName, err)
	}
	return &keyPair{cert: cert, key: key, der: der}, nil
}

// certPEM encodes the certificate of kp.
func certPEM(kp *keyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.der})
}

// keyPEM encodes key as PKCS#8, which both Go's tls package and the
// apiserver's key loader accept.
func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
