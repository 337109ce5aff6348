package rootfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMountsBelow(t *testing.T) {
	// Lines in the format of /proc/self/mountinfo.
	const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:5 / /cache/rootfs-scratch-1/root/proc rw - proc proc rw
31 22 0:6 / /cache/rootfs-scratch-1/root/sys rw - sysfs sysfs rw
32 22 0:7 /null /cache/rootfs-scratch-1/root/dev/null rw - devtmpfs udev rw
33 22 0:8 / /cache/rootfs-scratch-10 rw - tmpfs tmpfs rw
34 22 0:9 / /cache/with\040space/root/proc rw - proc proc rw
35 22 0:9 / /cache/back\134slash rw - proc proc rw
`
	tests := []struct {
		name string
		dir  string
		want []string
	}{
		{"mounts below", "/cache/rootfs-scratch-1", []string{
			"/cache/rootfs-scratch-1/root/proc",
			"/cache/rootfs-scratch-1/root/sys",
			"/cache/rootfs-scratch-1/root/dev/null",
		}},
		{"the directory itself, not its namesake's", "/cache/rootfs-scratch-10", []string{"/cache/rootfs-scratch-10"}},
		{"an escaped space", "/cache/with space", []string{"/cache/with space/root/proc"}},
		{"an escaped backslash", `/cache/back\slash`, []string{`/cache/back\slash`}},
		{"nothing", "/cache/rootfs-scratch-2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, mountsBelow(mountinfo, tt.dir)); diff != "" {
				t.Errorf("mounts (-want +got):\n%s", diff)
			}
		})
	}
}
