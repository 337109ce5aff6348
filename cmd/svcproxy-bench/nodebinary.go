package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// svcproxyPackage is the node binary the end-to-end run builds when
// --svcproxy names none.
const svcproxyPackage = "github.com/svcproxy/svcproxy/cmd/svcproxy"

// svcproxyPath returns --svcproxy as an absolute path to an executable
// file, or "" when it is not given. Absolute, because the proxy starts
// through ip netns exec, which would look a bare name up on PATH.
func (l *liveOptions) svcproxyPath() (string, error) {
	if l.svcproxy == "" {
		return "", nil
	}
	path, err := filepath.Abs(l.svcproxy)
	if err != nil {
		return "", fmt.Errorf("resolving --svcproxy: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checking --svcproxy: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("checking --svcproxy: %s is not an executable file", path)
	}
	return path, nil
}

// buildSvcProxy builds the node binary into dir from the checkout it runs
// in. Naming the package by import path leaves finding the checkout to the
// go command, which walks up from the working directory to go.mod, much as
// internal/kubeapi does to find test/tools.
func buildSvcProxy(ctx context.Context, dir string, progress io.Writer) (string, error) {
	out, err := filepath.Abs(filepath.Join(dir, "svcproxy"))
	if err != nil {
		return "", fmt.Errorf("resolving the work directory: %w", err)
	}
	fmt.Fprintf(progress, "building %s into %s\n", svcproxyPackage, out)
	output, err := exec.CommandContext(ctx, "go", "build", "-o", out, svcproxyPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building svcproxy (run svcproxy-bench from the svcproxy checkout with go on PATH, "+
			"or pass --svcproxy with the path of a built svcproxy binary): %w\n%s", err, bytes.TrimSpace(output))
	}
	return out, nil
}
