package samtemplate_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCfnLint runs cfn-lint (with its SAM translator) on template.yaml and
// fails on any finding, errors, warnings and informational ones alike.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not on PATH: install it (pip install cfn-lint) to lint template.yaml")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, filepath.Join(repoRoot, "template.yaml"))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cfn-lint timed out: %v", ctx.Err())
	}
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
