package main

import (
	"encoding/json"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const deployManifest = "../../deploy/svcproxy.yaml"

// nodeProxier is what kube-proxy's system:node-proxier ClusterRole
// grants: svcproxy's role may grant no more.
var nodeProxier = map[string][]string{
	"/services":                       {"list", "watch"},
	"/endpoints":                      {"list", "watch"},
	"/nodes":                          {"get", "list", "watch"},
	"/events":                         {"create", "patch", "update"},
	"events.k8s.io/events":            {"create", "patch", "update"},
	"discovery.k8s.io/endpointslices": {"list", "watch"},
	"networking.k8s.io/servicecidrs":  {"list", "watch"},
}

// TestDeployManifests checks deploy/svcproxy.yaml against what it must
// be: arguments that svcproxy run accepts, RBAC no wider than
// kube-proxy's, and no privileged container. That the API server accepts
// it is checked by the control-loop tests against a real one.
func TestDeployManifests(t *testing.T) {
	docs := readDeployManifest(t)
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, d["kind"].(string))
	}
	if strings.Join(kinds, ",") != "ServiceAccount,ClusterRole,ClusterRoleBinding,DaemonSet" {
		t.Fatalf("deploy manifest holds %v", kinds)
	}
	var role rbacv1.ClusterRole
	var ds appsv1.DaemonSet
	convert(t, docs[1], &role)
	convert(t, docs[3], &ds)
	checkRole(t, &role)
	checkDaemonSet(t, &ds)
}

func readDeployManifest(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open(deployManifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var docs []map[string]any
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err == io.EOF {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", deployManifest, err)
		}
		docs = append(docs, obj)
	}
}

// convert turns a decoded document into its typed object.
func convert(t *testing.T, doc map[string]any, obj any) {
	t.Helper()
	data, err := json.Marshal(doc)
	if err == nil {
		err = json.Unmarshal(data, obj)
	}
	if err != nil {
		t.Fatalf("decoding %s: %v", doc["kind"], err)
	}
}

// informed is what svcproxy reads, all through informers: the role must
// grant exactly this.
var informed = map[string][]string{
	"/services":                       {"list", "watch"},
	"/nodes":                          {"list", "watch"},
	"discovery.k8s.io/endpointslices": {"list", "watch"},
	"networking.k8s.io/servicecidrs":  {"list", "watch"},
}

func checkRole(t *testing.T, role *rbacv1.ClusterRole) {
	t.Helper()
	granted := map[string][]string{}
	for _, rule := range role.Rules {
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				granted[group+"/"+res] = append(granted[group+"/"+res], rule.Verbs...)
			}
		}
	}
	if !reflect.DeepEqual(granted, informed) {
		t.Errorf("ClusterRole grants %v, want exactly what svcproxy reads: %v", granted, informed)
	}
	for _, rule := range role.Rules {
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				allowed := nodeProxier[group+"/"+res]
				for _, verb := range rule.Verbs {
					if !slices.Contains(allowed, verb) {
						t.Errorf("ClusterRole grants %s on %s/%s, which system:node-proxier does not", verb, group, res)
					}
				}
			}
		}
	}
}

func checkDaemonSet(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	c := ds.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("container args %v do not start with run", c.Args)
	}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	(&runOptions{}).addFlags(fs)
	if err := fs.Parse(c.Args[1:]); err != nil {
		t.Errorf("svcproxy run refuses the DaemonSet's arguments: %v", err)
	}
	checkLeastPrivilege(t, &c)
	checkInit(t, ds, fs)
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.PriorityClassName != "system-node-critical" || len(spec.Tolerations) == 0 {
		t.Errorf("DaemonSet must use the host network, system-node-critical and tolerate every taint: %+v", spec)
	}
}

// checkInit checks the init container: svcproxy run --init-only with
// the container's own image and arguments, privileged, since that is
// what it is for. fs has parsed the container's arguments.
func checkInit(t *testing.T, ds *appsv1.DaemonSet, fs *pflag.FlagSet) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	if len(spec.InitContainers) != 1 {
		t.Fatalf("%d init containers, want one", len(spec.InitContainers))
	}
	init, c := spec.InitContainers[0], spec.Containers[0]
	if init.Image != c.Image || !slices.Equal(init.Args, c.Args) {
		t.Errorf("init container runs %s %v, want the container's image and arguments, %s %v", init.Image, init.Args, c.Image, c.Args)
	}
	if !slices.Equal(init.Command, []string{"/usr/local/bin/svcproxy", "--init-only=true"}) {
		t.Errorf("init container command %v, want svcproxy with --init-only", init.Command)
	}
	if sc := init.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Error("init container is not privileged: /proc/sys would be read-only to it")
	}
	if f := fs.Lookup("init-only"); f == nil || f.Changed {
		t.Error("the container's own arguments ask for --init-only")
	}
}

// checkLeastPrivilege checks that the container has only what svcproxy
// uses: NET_ADMIN and NET_RAW of every capability, no privilege and no
// way to gain any, the runtime's seccomp profile, a read-only root
// filesystem, and no volume but the host's xtables lock.
func checkLeastPrivilege(t *testing.T, c *corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatalf("container has no security context: %+v", sc)
	}
	caps := sc.Capabilities
	if !slices.Equal(caps.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(caps.Add, []corev1.Capability{"NET_ADMIN", "NET_RAW"}) {
		t.Errorf("capabilities drop %v add %v, want drop ALL, add NET_ADMIN and NET_RAW", caps.Drop, caps.Add)
	}
	switch {
	case sc.Privileged == nil || *sc.Privileged:
		t.Error("container may be privileged")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("container may gain privileges")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("container's root filesystem is writable")
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("container runs without the runtime's seccomp profile")
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/run/xtables.lock" {
		t.Errorf("volume mounts %+v, want only the xtables lock", c.VolumeMounts)
	}
}
