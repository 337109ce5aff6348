// Package rootfs builds Debian root filesystems for container images
// without pulling any image: the test cluster has no registry, but it can
// reach Debian's package mirror. ParseContainerfile reads what the
// repository's Containerfile installs, Build bootstraps those packages
// into a cached tarball with debootstrap, and MissingTools checks that a
// tarball holds the programs an image runs.
package rootfs
