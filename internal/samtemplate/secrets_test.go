package samtemplate_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
)

const secretsTemplate = `
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 48, ExcludePunctuation: true}
  DefaultLength:
    Type: AWS::SecretsManager::Secret
    Properties: {GenerateSecretString: {ExcludePunctuation: true}}
  Imported:
    Type: AWS::SecretsManager::Secret
    Properties: {Description: its value is put by hand}
  A:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:secretsmanager:${Key}:SecretString}}"}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:secretsmanager:${Key}:SecretString}}"}}}
  Short:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:secretsmanager:${DefaultLength}:SecretString}}"}}}
  ByHand:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:secretsmanager:${Imported}:SecretString}}"}}}
  JSONKey:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:secretsmanager:${Key}:SecretString:password}}"}}}
  SSM:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:ssm:/passport/key}}"}}}
  NotASecret:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: !Sub "{{resolve:secretsmanager:${Table}:SecretString}}"}}}
  Literal:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {KEY: "{{resolve:secretsmanager:passport/key:SecretString}}"}}}
`

func TestResolveEnvSecret(t *testing.T) {
	tpl := mustParse(t, secretsTemplate)
	tests := []struct {
		name, fn  string
		resources map[string]string
		want      string // the exact value; "" for a generated one of wantLen
		wantLen   int
		wantErr   string
	}{
		{name: "generated with PasswordLength", fn: "A", wantLen: 48},
		{name: "generated with the default length", fn: "Short", wantLen: 32},
		{name: "given value wins", fn: "A", resources: map[string]string{"Key": "local-key"}, want: "local-key"},
		{name: "given value of a secret made elsewhere", fn: "ByHand", resources: map[string]string{"Imported": "by-hand"}, want: "by-hand"},
		{name: "no value and nothing to generate", fn: "ByHand", wantErr: "no value for secret Imported"},
		{name: "a JSON key", fn: "JSONKey", wantErr: "cannot resolve dynamic reference"},
		{name: "another service", fn: "SSM", wantErr: "cannot resolve dynamic reference"},
		{name: "not a secret", fn: "NotASecret", wantErr: "Table is not an AWS::SecretsManager::Secret"},
		{name: "literal dynamic reference", fn: "Literal", wantErr: "cannot resolve the dynamic reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := tpl.ResolveEnv(tt.fn, tt.resources, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveEnv(%s) error = %v, want one containing %q", tt.fn, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveEnv(%s): %v", tt.fn, err)
			}
			got := env["KEY"]
			if tt.want != "" {
				if got != tt.want {
					t.Errorf("KEY = %q, want %q", got, tt.want)
				}
				return
			}
			if !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(got) || len(got) != tt.wantLen {
				t.Errorf("KEY = %q, want %d letters and digits", got, tt.wantLen)
			}
		})
	}
}

// TestResolveEnvSecretShared checks that a generated secret is one value per
// Template, as one per stack: every function of it, resolved in any order and
// concurrently, gets the same value, and another Template gets another.
func TestResolveEnvSecretShared(t *testing.T) {
	tpl := mustParse(t, secretsTemplate)
	fns := []string{"A", "B", "A", "B", "A", "B", "A", "B"}
	got := make([]string, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			env, err := tpl.ResolveEnv(fn, nil, nil)
			if err != nil {
				t.Errorf("ResolveEnv(%s): %v", fn, err)
			}
			got[i] = env["KEY"]
		})
	}
	wg.Wait()
	for i, v := range got {
		if v == "" || v != got[0] {
			t.Fatalf("ResolveEnv(%s) KEY = %q, want %q as for %s", fns[i], v, got[0], fns[0])
		}
	}
	other, err := mustParse(t, secretsTemplate).ResolveEnv("A", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other["KEY"] == got[0] {
		t.Errorf("two templates generated the same secret %q", got[0])
	}
}
