package samtemplate

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// TypeSecret is the resource type whose values ResolveEnv reads through a
// dynamic reference.
const TypeSecret = "AWS::SecretsManager::Secret"

// secretRef matches the one dynamic reference ResolveEnv resolves: a
// secret's whole SecretString, named by a Ref inside Fn::Sub.
var secretRef = regexp.MustCompile(`^\{\{resolve:secretsmanager:\$\{([A-Za-z0-9]+)\}:SecretString\}\}$`)

// localSecrets holds the value each generated secret of a template takes
// locally: made on first use, then the same for every function.
type localSecrets struct {
	mu     sync.Mutex
	values map[string]string
}

// secretValue resolves in if it is !Sub "{{resolve:secretsmanager:${Secret}:SecretString}}":
// resources[Secret] if given, else the value generated for the template.
// ok is false for any other intrinsic.
func (t *Template) secretValue(in Intrinsic, resources map[string]string) (v string, ok bool, err error) {
	s, isString := in.Args.(string)
	if in.Fn != "Fn::Sub" || !isString || !strings.HasPrefix(s, "{{resolve:") {
		return "", false, nil
	}
	m := secretRef.FindStringSubmatch(s)
	if m == nil {
		return "", true, fmt.Errorf("cannot resolve dynamic reference %q: only {{resolve:secretsmanager:${Secret}:SecretString}}", s)
	}
	id := m[1]
	if r := t.Resources[id]; r.Type != TypeSecret {
		return "", true, fmt.Errorf("dynamic reference %q: %s is not an %s", s, id, TypeSecret)
	}
	if v, given := resources[id]; given {
		return v, true, nil
	}
	gen, _ := t.Resources[id].Properties["GenerateSecretString"].(map[string]any)
	if gen == nil {
		return "", true, fmt.Errorf("no value for secret %s (it has no GenerateSecretString)", id)
	}
	n, _ := gen["PasswordLength"].(int)
	if n <= 0 {
		n = 32 // Secrets Manager's default
	}
	t.secrets.mu.Lock()
	defer t.secrets.mu.Unlock()
	if v, made := t.secrets.values[id]; made {
		return v, true, nil
	}
	v = alphanumeric(n)
	t.secrets.values[id] = v
	return v, true, nil
}

// alphanumeric returns n random letters and digits, as GenerateSecretString
// with ExcludePunctuation makes them.
func alphanumeric(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		rand.Read(b[:]) // never fails since Go 1.24
		// Dropping the bytes past the last whole multiple of len(chars)
		// keeps every character equally likely.
		if int(b[0]) < 256-256%len(chars) {
			out = append(out, chars[int(b[0])%len(chars)])
		}
	}
	return string(out)
}
