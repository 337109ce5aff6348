package kubeapi_test

import (
	"context"
	"debug/buildinfo"
	"strings"
	"testing"
	"time"

	"github.com/svcproxy/svcproxy/internal/kubeapi"
	testkubeapi "github.com/svcproxy/svcproxy/test/kubeapi"
)

// TestBinariesSameRelease builds kube-apiserver and kube-proxy (which
// `svcproxy-bench --compare-kube-proxy` runs) and checks that both are
// the same Kubernetes release, as the comparison promises.
func TestBinariesSameRelease(t *testing.T) {
	testkubeapi.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Minute)
	defer cancel()
	bins, err := kubeapi.Build(ctx, t.Logf, kubeapi.APIServer, kubeapi.KubeProxy)
	if err != nil {
		t.Fatal(err)
	}
	// Built from the module rather than a release tree, neither binary
	// has a release in its --version; its build information has the
	// module version it came from.
	versions := map[kubeapi.Binary]string{}
	for _, b := range []kubeapi.Binary{kubeapi.APIServer, kubeapi.KubeProxy} {
		info, err := buildinfo.ReadFile(bins[b])
		if err != nil {
			t.Fatalf("reading the build information of %s: %v", b, err)
		}
		if info.Main.Path == "k8s.io/kubernetes" {
			versions[b] = info.Main.Version
		}
	}
	if versions[kubeapi.APIServer] != versions[kubeapi.KubeProxy] || !strings.HasPrefix(versions[kubeapi.APIServer], "v1.") {
		t.Errorf("kube-apiserver is %q, kube-proxy %q: want one release", versions[kubeapi.APIServer], versions[kubeapi.KubeProxy])
	}
}
