package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testSpec is a Spec for the tests that never reach a real debootstrap.
var testSpec = Spec{Suite: "bookworm", Packages: []string{"nftables", "iproute2"}, Entrypoint: []string{"/x"}}

// fakeDebootstrap puts a debootstrap first in PATH that runs script (a
// shell script, with the target directory in $root and a log of the calls
// at $calls) and returns the path of that log.
func fakeDebootstrap(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	text := "#!/bin/sh\nset -e\necho \"$*\" >>" + calls + "\nroot=$4\n" + script
	if err := os.WriteFile(filepath.Join(dir, "debootstrap"), []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	return calls
}

// fakeTree is a fake debootstrap's tree: a program, and files of the
// kinds Build trims, one of them behind Debian's absolute var/run link.
const fakeTree = `mkdir -p "$root/usr/sbin" "$root/etc" "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives"
printf nft >"$root/usr/sbin/nft"
chmod 755 "$root/usr/sbin/nft"
echo buildhost >"$root/etc/hostname"
touch "$root/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease"
touch "$root/var/cache/apt/archives/nftables_1.0.6-2+deb12u2_amd64.deb"
ln -s /run "$root/var/run"
sleep 1
`

// entryNames returns the names in the tarball at path.
func entryNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := readIndex(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, hdr := range idx {
		if hdr.Typeflag == tar.TypeDir {
			name += "/"
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// dirNames returns the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestBuildOnce runs concurrent Builds into one cache, with a scratch
// directory of an interrupted build in it, and checks that the tree was
// bootstrapped once, trimmed, and left nothing else behind.
func TestBuildOnce(t *testing.T) {
	calls := fakeDebootstrap(t, fakeTree)
	cache := t.TempDir()
	stale := filepath.Join(cache, scratchPrefix+"123", "root", "etc")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	paths := make([]string, 3)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() {
			p, err := Build(context.Background(), t.Logf, cache, testSpec)
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		})
	}
	wg.Wait()
	want := filepath.Join(cache, "rootfs-"+testSpec.key()+".tar")
	if diff := cmp.Diff([]string{want, want, want}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	log := readFile(t, calls)
	wantCall := "--variant=minbase --include=nftables,iproute2 bookworm " + filepath.Join(cache, "rootfs-scratch-") // then the random part
	if strings.Count(log, "\n") != 1 || !strings.HasPrefix(log, wantCall) || !strings.HasSuffix(log, "/root "+Mirror+"\n") {
		t.Errorf("debootstrap calls:\n%s\nwant one, starting %q", log, wantCall)
	}
	wantEntries := []string{"etc/", "usr/", "usr/sbin/", "usr/sbin/nft", "var/", "var/cache/", "var/cache/apt/",
		"var/cache/apt/archives/", "var/lib/", "var/lib/apt/", "var/lib/apt/lists/", "var/run"}
	if diff := cmp.Diff(wantEntries, entryNames(t, want)); diff != "" {
		t.Errorf("tarball entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{filepath.Base(want), lockName}, dirNames(t, cache)); diff != "" {
		t.Errorf("cache contents (-want +got):\n%s", diff)
	}
}

func TestBuildFailure(t *testing.T) {
	fakeDebootstrap(t, `mkdir -p "$root/debootstrap"
echo "dpkg: error processing package nftables" >"$root/debootstrap/debootstrap.log"
echo "E: Couldn't download packages: nftables"
exit 1
`)
	cache := t.TempDir()
	_, err := Build(context.Background(), t.Logf, cache, testSpec)
	for _, want := range []string{"Couldn't download packages", "dpkg: error processing package nftables"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if diff := cmp.Diff([]string{lockName}, dirNames(t, cache)); diff != "" {
		t.Errorf("cache contents (-want +got):\n%s", diff)
	}
}

// TestBuildCancelled cancels a running debootstrap whose child holds its
// output open, as wget and dpkg do: Build has to kill the whole process
// group, or it would wait for the child.
func TestBuildCancelled(t *testing.T) {
	fakeDebootstrap(t, "mkdir -p \"$root\"\nsleep 600\n")
	cache := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := Build(ctx, t.Logf, cache, testSpec)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want one wrapping context.Canceled", err)
	}
	// Well below the WaitDelay that would end a wait for the orphan.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Build returned %v after it was cancelled", d)
	}
	if diff := cmp.Diff([]string{lockName}, dirNames(t, cache)); diff != "" {
		t.Errorf("cache contents (-want +got):\n%s", diff)
	}
}

// TestBuildReusesCache checks that a tarball in the cache is returned
// without running debootstrap, which with an empty PATH cannot run.
func TestBuildReusesCache(t *testing.T) {
	cache := t.TempDir()
	want := filepath.Join(cache, "rootfs-"+testSpec.key()+".tar")
	if err := os.WriteFile(want, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "")
	got, err := Build(context.Background(), t.Logf, cache, testSpec)
	if err != nil || got != want {
		t.Errorf("Build = %q, %v; want %q", got, err, want)
	}
}

func TestBuildWithoutDebootstrap(t *testing.T) {
	t.Setenv("PATH", "")
	_, err := Build(context.Background(), t.Logf, t.TempDir(), testSpec)
	if !errors.Is(err, ErrNoDebootstrap) || !strings.Contains(err.Error(), "apt-get install -y debootstrap") {
		t.Errorf("error %v, want one wrapping ErrNoDebootstrap", err)
	}
}

func TestBuildRefusesBadSpec(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no suite", Spec{Packages: []string{"nftables"}}, `suite "" is not a Debian suite`},
		{"an option for a suite", Spec{Suite: "--foreign", Packages: []string{"nftables"}}, `suite "--foreign"`},
		{"no packages", Spec{Suite: "bookworm"}, "no packages"},
		{"a list for a package", Spec{Suite: "bookworm", Packages: []string{"a,b"}}, `"a,b" is not a package name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(context.Background(), t.Logf, t.TempDir(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSpecKey(t *testing.T) {
	base := Spec{Suite: "bookworm", Packages: []string{"iptables", "nftables"}}
	tests := []struct {
		name string
		spec Spec
		same bool
	}{
		{"another order", Spec{Suite: "bookworm", Packages: []string{"nftables", "iptables"}}, true},
		{"a duplicate", Spec{Suite: "bookworm", Packages: []string{"iptables", "nftables", "iptables"}}, true},
		{"another entrypoint", Spec{Suite: "bookworm", Packages: base.Packages, Entrypoint: []string{"/x"}}, true},
		{"another suite", Spec{Suite: "trixie", Packages: base.Packages}, false},
		{"another package", Spec{Suite: "bookworm", Packages: []string{"iptables", "nftables", "conntrack"}}, false},
		{"packages split differently", Spec{Suite: "bookworm", Packages: []string{"iptables,nftables"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.key() == base.key(); got != tt.same {
				t.Errorf("same key as %v: %v, want %v", base, got, tt.same)
			}
		})
	}
}
