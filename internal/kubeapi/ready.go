package kubeapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcproxy/svcproxy/internal/daemon"
)

// Readiness limits. The apiserver usually needs 5-15 s on a loaded CI
// machine; a minute leaves room without hiding a server that is stuck.
const (
	etcdTimeout  = 30 * time.Second
	readyTimeout = 60 * time.Second
	pollInterval = 200 * time.Millisecond
)

// waitForEtcd waits until etcd answers /health, so that a broken etcd is
// reported as such rather than as an apiserver that never gets ready.
func (s *Server) waitForEtcd(ctx context.Context) error {
	client := &http.Client{
		Transport: &http.Transport{DialContext: s.dialer.DialContext},
		Timeout:   2 * time.Second,
	}
	defer client.CloseIdleConnections()
	err := poll(ctx, s.etcd, etcdTimeout, func() error {
		resp, err := client.Get(etcdClientURL + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) {
			return fmt.Errorf("etcd /health: %s: %s", resp.Status, body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("waiting for etcd: %w", err)
	}
	return nil
}

// waitForAPIServer waits until /readyz passes and the default namespace and
// the kubernetes Service, which the apiserver creates shortly after, exist:
// tests create their objects in that namespace and read that Service, and
// would otherwise race its creation.
func (s *Server) waitForAPIServer(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		return fmt.Errorf("creating the admin client: %w", err)
	}
	start := time.Now()
	err = poll(ctx, s.apiserver, readyTimeout, func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(ctx)
		if failed := failedChecks(body); err != nil && failed != "" {
			return fmt.Errorf("%w: %s", err, failed)
		} else if err != nil {
			return err
		}
		if _, err := client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
			return err
		}
		_, err = client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("waiting for kube-apiserver: %w", err)
	}
	s.logf("%v ready after %v", s, time.Since(start).Round(time.Millisecond))
	return nil
}

// failedChecks picks the failing lines out of a verbose /readyz answer,
// which otherwise lists dozens of passing checks.
func failedChecks(body []byte) string {
	var failed []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "[-]") {
			failed = append(failed, line)
		}
	}
	return strings.Join(failed, "; ")
}

// poll calls check until it succeeds, p exits, timeout passes or ctx
// ends, returning the last error so the failure says what was still
// wrong.
func poll(ctx context.Context, p *daemon.Daemon, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if done, exitErr := p.Exited(); done {
			return fmt.Errorf("%s exited (%v); last check: %w", p.Name, exitErr, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last check: %w", ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}
