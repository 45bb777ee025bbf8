package samtemplate_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
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

// TestCfnLintJWTMode lints template.yaml as deployed with AuthMode JWT.
// cfn-lint resolves parameter Refs from their Defaults before the SAM
// transform (as AWS::LanguageExtensions resolves them from the stack's
// values), so the JWT branch is linted by giving the parameters JWT
// defaults in a copy.
func TestCfnLintJWTMode(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not on PATH: install it (pip install cfn-lint) to lint template.yaml")
	}
	src, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jwt := mustSetParameterDefaults(t, src, map[string]string{
		"AuthMode": "JWT", "JwtIssuer": "https://issuer.example.com", "JwtAudience": "passport-api",
	})
	path := filepath.Join(t.TempDir(), "template-jwt.yaml")
	if err := os.WriteFile(path, jwt, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("cfn-lint (AuthMode JWT): %v\n%s", err, out)
	}
}

// mustSetParameterDefaults returns the template src with the Default of each
// named parameter replaced, everything else (tags included) kept.
func mustSetParameterDefaults(t *testing.T, src []byte, defaults map[string]string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	params := mappingValue(doc.Content[0], "Parameters")
	for name, v := range defaults {
		d := mappingValue(mappingValue(params, name), "Default")
		if d == nil {
			t.Fatalf("parameter %s has no Default", name)
		}
		d.Kind, d.Tag, d.Value, d.Style = yaml.ScalarNode, "!!str", v, yaml.DoubleQuotedStyle
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
