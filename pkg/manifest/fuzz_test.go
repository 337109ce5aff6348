package manifest

import (
	"strings"
	"testing"
)

// FuzzLoad checks that Load never panics, and that whatever it is
// given it returns objects and no error: bad documents are warnings.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"",
		serviceYAML,
		serviceJSON,
		kubectlList,
		serviceYAML + "---\n" + sliceYAML + "---\n" + nodeYAML,
		`{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "List", "items": [null, 5]}]}`,
		`{"apiVersion": "v1", "kind": "ServiceList", "items": [{"spec": {"ports": [{"port": "x"}]}}]}`,
		"apiVersion: v1\nkind: Service\nmetadata: &a {name: *a}\n",
		"--- junk\n- [\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _, err := Load("fuzz", strings.NewReader(string(data)))
		if objs == nil || err != nil {
			t.Fatalf("Load() = %v, %v: want objects and no error", objs, err)
		}
	})
}
