// Package samtemplate reads the project's AWS SAM template (template.yaml)
// so that the local run and the tests use the same routes, functions, table
// and stream mapping as the deployed stack, instead of repeating them.
//
// The template is read as generic YAML with gopkg.in/yaml.v3. CloudFormation
// short-form tags (!Ref, !GetAtt, !Sub, ...) and their long forms
// ({Ref: X}, {"Fn::GetAtt": [...]}) decode into Intrinsic values. SAM Globals
// are merged into the resources they apply to with SAM's own rules: local
// scalars (and intrinsics) win, maps merge key by key, lists concatenate
// global entries first.
//
// Only what the project uses is interpreted: AWS::Serverless::Function with
// HttpApi and DynamoDB events, the Auth of AWS::Serverless::HttpApi (see
// RouteAuths, which resolves parameters and conditions as
// AWS::LanguageExtensions does; see Resolve), and AWS::DynamoDB::Table.
package samtemplate

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Resource types the package interprets.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeTable    = "AWS::DynamoDB::Table"
)

// DefaultRoutePath is the Path of the HTTP API catch-all route, as in
// Route{Method: "ANY", Path: "$default"}.
const DefaultRoutePath = "$default"

// globalsSections maps a Globals section to the resource type it applies to.
var globalsSections = map[string]string{
	"Function":     TypeFunction,
	"Api":          "AWS::Serverless::Api",
	"HttpApi":      TypeHTTPAPI,
	"SimpleTable":  "AWS::Serverless::SimpleTable",
	"StateMachine": "AWS::Serverless::StateMachine",
	"LayerVersion": "AWS::Serverless::LayerVersion",
}

// Template is a parsed SAM template with its Globals already applied to
// Resources.
type Template struct {
	// Parameters holds each parameter's raw definition (Type, Default, ...).
	Parameters map[string]map[string]any
	// Globals is the raw Globals section, as written.
	Globals map[string]any
	// Resources by logical ID, with Globals merged into their Properties.
	Resources map[string]Resource
	// Outputs is the raw Outputs section.
	Outputs map[string]any
	// Conditions is the raw Conditions section; Resolve evaluates it.
	Conditions map[string]any

	routes      []Route
	routeEvents map[string]event // the HttpApi event of each route, by route key
	secrets     *localSecrets    // generated secret values (ResolveEnv)
}

// Resource is one entry of the template's Resources section.
type Resource struct {
	ID                  string
	Type                string
	Properties          map[string]any
	Metadata            map[string]any
	DeletionPolicy      string
	UpdateReplacePolicy string
}

// Route is one HTTP API route served by a function. The catch-all route is
// Route{Method: "ANY", Path: "$default"}.
type Route struct {
	Method, Path, FunctionID string
}

// RouteKey returns the API Gateway route key: "GET /path", "ANY /path", or
// "$default" for the catch-all route.
func (r Route) RouteKey() string {
	if r.Path == DefaultRoutePath {
		return DefaultRoutePath
	}
	return r.Method + " " + r.Path
}

// Function is an AWS::Serverless::Function with Globals applied.
type Function struct {
	ID            string
	CodeURI       string
	Handler       string
	Runtime       string
	Architectures []string
	Timeout       int // seconds; 0 if unset
	MemorySize    int // MB; 0 if unset
	// BuildMethod is Metadata.BuildMethod ("makefile" for every function here).
	BuildMethod string
	// SourceDir is the directory, relative to the template, holding the
	// function's main package: Metadata.SourceDir if set, else CodeURI when it
	// is not ".", else "functions/<kebab-case logical ID without Function>".
	SourceDir string
	// Env holds the environment variables whose values are literals (numbers
	// and booleans as strings).
	Env map[string]string
	// EnvIntrinsics holds the environment variables whose values are
	// intrinsics (for example TABLE_NAME: !Ref PassportTable); see ResolveEnv.
	EnvIntrinsics map[string]Intrinsic
	// Policies is the raw Policies property.
	Policies any
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template, applies its Globals and checks what this
// package reads: every function's properties have the expected types, every
// HttpApi event has a literal Path and Method (or neither, for $default), and
// no route key is served twice.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	v, err := decodeNode(&doc)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: template is not a mapping")
	}

	t := &Template{
		Parameters: map[string]map[string]any{},
		Resources:  map[string]Resource{},
		secrets:    &localSecrets{values: map[string]string{}},
	}
	if t.Globals, err = optMap(root, "Globals", "template"); err != nil {
		return nil, err
	}
	if t.Outputs, err = optMap(root, "Outputs", "template"); err != nil {
		return nil, err
	}
	if t.Conditions, err = optMap(root, "Conditions", "template"); err != nil {
		return nil, err
	}
	params, err := optMap(root, "Parameters", "template")
	if err != nil {
		return nil, err
	}
	for name, p := range params {
		pm, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("samtemplate: parameter %s is not a mapping", name)
		}
		t.Parameters[name] = pm
	}

	resources, err := optMap(root, "Resources", "template")
	if err != nil {
		return nil, err
	}
	if len(resources) == 0 {
		return nil, fmt.Errorf("samtemplate: template has no Resources")
	}
	for id, rv := range resources {
		rm, ok := rv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("samtemplate: resource %s is not a mapping", id)
		}
		r := Resource{ID: id}
		typ, ok := rm["Type"].(string)
		if !ok || typ == "" {
			return nil, fmt.Errorf("samtemplate: resource %s has no Type", id)
		}
		r.Type = typ
		if r.Properties, err = optMap(rm, "Properties", id); err != nil {
			return nil, err
		}
		if r.Metadata, err = optMap(rm, "Metadata", id); err != nil {
			return nil, err
		}
		r.DeletionPolicy, _ = rm["DeletionPolicy"].(string)
		r.UpdateReplacePolicy, _ = rm["UpdateReplacePolicy"].(string)
		if r.Properties == nil {
			r.Properties = map[string]any{}
		}
		t.Resources[id] = r
	}

	if err := t.applyGlobals(); err != nil {
		return nil, err
	}
	for _, id := range t.FunctionIDs() {
		if _, err := t.function(id); err != nil {
			return nil, err
		}
	}
	if t.routes, err = t.collectRoutes(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) applyGlobals() error {
	for section, g := range t.Globals {
		typ, ok := globalsSections[section]
		if !ok {
			return fmt.Errorf("samtemplate: unsupported Globals section %q", section)
		}
		gm, ok := g.(map[string]any)
		if !ok {
			return fmt.Errorf("samtemplate: Globals.%s is not a mapping", section)
		}
		for id, r := range t.Resources {
			if r.Type != typ {
				continue
			}
			r.Properties = mergeGlobal(gm, r.Properties).(map[string]any)
			t.Resources[id] = r
		}
	}
	return nil
}

// mergeGlobal merges a global value with a local one as SAM does: maps merge
// key by key, lists concatenate (global first), anything else (including
// intrinsics, and values of different kinds) takes the local value.
func mergeGlobal(global, local any) any {
	switch g := global.(type) {
	case map[string]any:
		l, ok := local.(map[string]any)
		if !ok {
			return local
		}
		out := make(map[string]any, len(g)+len(l))
		for k, v := range g {
			out[k] = v
		}
		for k, v := range l {
			if gv, exists := out[k]; exists {
				out[k] = mergeGlobal(gv, v)
			} else {
				out[k] = v
			}
		}
		return out
	case []any:
		l, ok := local.([]any)
		if !ok {
			return local
		}
		out := make([]any, 0, len(g)+len(l))
		return append(append(out, g...), l...)
	}
	return local
}

// FunctionIDs returns the logical IDs of the AWS::Serverless::Function
// resources, sorted.
func (t *Template) FunctionIDs() []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == TypeFunction {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Routes returns the HTTP API routes of every function's HttpApi events,
// sorted by Path then Method, with the "$default" route last.
func (t *Template) Routes() []Route {
	return append([]Route(nil), t.routes...)
}

func (t *Template) collectRoutes() ([]Route, error) {
	var routes []Route
	seen := map[string]string{}
	t.routeEvents = map[string]event{}
	for _, id := range t.FunctionIDs() {
		events, err := t.events(id)
		if err != nil {
			return nil, err
		}
		for _, name := range sortedKeys(events) {
			ev := events[name]
			if ev.typ != "HttpApi" {
				continue
			}
			where := fmt.Sprintf("%s.Events.%s", id, name)
			p, hasPath, err := optString(ev.props, "Path", where)
			if err != nil {
				return nil, err
			}
			m, hasMethod, err := optString(ev.props, "Method", where)
			if err != nil {
				return nil, err
			}
			switch {
			case !hasPath && !hasMethod:
				// SAM: an HttpApi event without Path and Method is the $default route.
				p, m = DefaultRoutePath, "ANY"
			case !hasPath || !hasMethod:
				return nil, fmt.Errorf("samtemplate: %s: HttpApi event needs both Path and Method", where)
			}
			r := Route{Method: normaliseMethod(m), Path: p, FunctionID: id}
			if p == DefaultRoutePath || p == "/"+DefaultRoutePath {
				if r.Method != "ANY" {
					return nil, fmt.Errorf("samtemplate: %s: the $default route must use Method ANY", where)
				}
				r.Path = DefaultRoutePath
			} else if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("samtemplate: %s: Path %q must start with /", where, p)
			}
			if other, dup := seen[r.RouteKey()]; dup {
				return nil, fmt.Errorf("samtemplate: route %q is served by both %s and %s", r.RouteKey(), other, where)
			}
			seen[r.RouteKey()] = where
			t.routeEvents[r.RouteKey()] = ev
			routes = append(routes, r)
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		if (a.Path == DefaultRoutePath) != (b.Path == DefaultRoutePath) {
			return b.Path == DefaultRoutePath
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	return routes, nil
}

func normaliseMethod(m string) string {
	if strings.EqualFold(m, "x-amazon-apigateway-any-method") {
		return "ANY"
	}
	return strings.ToUpper(m)
}

// Function returns the function with the given logical ID, Globals applied.
// It reports false when there is no such AWS::Serverless::Function (Parse has
// already rejected functions whose properties have the wrong type).
func (t *Template) Function(id string) (Function, bool) {
	f, err := t.function(id)
	return f, err == nil
}

func (t *Template) function(id string) (Function, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != TypeFunction {
		return Function{}, fmt.Errorf("samtemplate: no %s %q", TypeFunction, id)
	}
	f := Function{ID: id, Env: map[string]string{}, EnvIntrinsics: map[string]Intrinsic{}}
	p := r.Properties
	var err error
	for key, dst := range map[string]*string{"CodeUri": &f.CodeURI, "Handler": &f.Handler, "Runtime": &f.Runtime} {
		if *dst, _, err = optString(p, key, id); err != nil {
			return Function{}, err
		}
	}
	for key, dst := range map[string]*int{"Timeout": &f.Timeout, "MemorySize": &f.MemorySize} {
		if *dst, _, err = optInt(p, key, id); err != nil {
			return Function{}, err
		}
	}
	if archs, ok := p["Architectures"]; ok {
		list, ok := archs.([]any)
		if !ok {
			return Function{}, fmt.Errorf("samtemplate: %s.Architectures is not a list", id)
		}
		for _, a := range list {
			s, ok := a.(string)
			if !ok {
				return Function{}, fmt.Errorf("samtemplate: %s.Architectures holds a non-string", id)
			}
			f.Architectures = append(f.Architectures, s)
		}
	}
	env, err := optMap(p, "Environment", id)
	if err != nil {
		return Function{}, err
	}
	vars, err := optMap(env, "Variables", id+".Environment")
	if err != nil {
		return Function{}, err
	}
	for k, v := range vars {
		switch v := v.(type) {
		case Intrinsic:
			f.EnvIntrinsics[k] = v
		case string:
			f.Env[k] = v
		case int, float64, bool:
			f.Env[k] = fmt.Sprint(v)
		default:
			return Function{}, fmt.Errorf("samtemplate: %s.Environment.Variables.%s has unsupported value %v", id, k, v)
		}
	}
	f.Policies = p["Policies"]
	if f.BuildMethod, _, err = optString(r.Metadata, "BuildMethod", id+".Metadata"); err != nil {
		return Function{}, err
	}
	if f.SourceDir, _, err = optString(r.Metadata, "SourceDir", id+".Metadata"); err != nil {
		return Function{}, err
	}
	if f.SourceDir == "" {
		if f.CodeURI != "" && f.CodeURI != "." {
			f.SourceDir = path.Clean(f.CodeURI)
		} else {
			f.SourceDir = ConventionalSourceDir(id)
		}
	}
	return f, nil
}

// ConventionalSourceDir returns the source directory a function's logical ID
// maps to by convention: "ListProvidersFunction" -> "functions/list-providers".
func ConventionalSourceDir(id string) string {
	base := strings.TrimSuffix(id, "Function")
	if base == "" {
		base = id
	}
	var b strings.Builder
	runes := []rune(base)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			// Start a new word at an upper-case letter that follows a lower-case
			// letter or digit, or that begins a word after an acronym ("HTTPApi").
			if i > 0 && (unicode.IsLower(runes[i-1]) || unicode.IsDigit(runes[i-1]) ||
				(i+1 < len(runes) && unicode.IsLower(runes[i+1]) && unicode.IsUpper(runes[i-1]))) {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return "functions/" + b.String()
}

// ParameterDefault returns the Default of a template parameter as a string.
func (t *Template) ParameterDefault(name string) (string, bool) {
	p, ok := t.Parameters[name]
	if !ok {
		return "", false
	}
	d, ok := p["Default"]
	if !ok {
		return "", false
	}
	switch d := d.(type) {
	case string:
		return d, true
	case int, float64, bool:
		return fmt.Sprint(d), true
	}
	return "", false
}

// ResolveEnv returns a function's full environment with its intrinsics
// resolved: a !Ref to a parameter takes params[name] if present, else the
// parameter's Default; a !Ref to a resource takes resources[logicalID] (for
// example the local table name for PassportTable).
//
// The dynamic reference !Sub "{{resolve:secretsmanager:${Secret}:SecretString}}"
// to an AWS::SecretsManager::Secret takes resources[Secret] if present, else
// a value generated as its GenerateSecretString would (PasswordLength random
// letters and digits), once per Template: every function resolved from one
// Template, as every function of one stack, gets the same value.
//
// Any other intrinsic or dynamic reference, or a reference with no value, is
// an error.
func (t *Template) ResolveEnv(functionID string, resources, params map[string]string) (map[string]string, error) {
	f, err := t.function(functionID)
	if err != nil {
		return nil, err
	}
	env := make(map[string]string, len(f.Env)+len(f.EnvIntrinsics))
	for k, v := range f.Env {
		if strings.Contains(v, "{{resolve:") {
			return nil, fmt.Errorf("samtemplate: %s: env %s: cannot resolve the dynamic reference in %q outside CloudFormation", functionID, k, v)
		}
		env[k] = v
	}
	for k, in := range f.EnvIntrinsics {
		if v, ok, err := t.secretValue(in, resources); ok {
			if err != nil {
				return nil, fmt.Errorf("samtemplate: %s: env %s: %w", functionID, k, err)
			}
			env[k] = v
			continue
		}
		name, ok := in.Ref()
		if !ok {
			return nil, fmt.Errorf("samtemplate: %s: env %s: cannot resolve %s", functionID, k, in)
		}
		switch {
		case t.Parameters[name] != nil:
			if v, ok := params[name]; ok {
				env[k] = v
			} else if v, ok := t.ParameterDefault(name); ok {
				env[k] = v
			} else {
				return nil, fmt.Errorf("samtemplate: %s: env %s: parameter %s has no value", functionID, k, name)
			}
		default:
			v, ok := resources[name]
			if !ok {
				return nil, fmt.Errorf("samtemplate: %s: env %s: no value for !Ref %s", functionID, k, name)
			}
			env[k] = v
		}
	}
	return env, nil
}

// event is one entry of a function's Events.
type event struct {
	typ   string
	props map[string]any
}

func (t *Template) events(functionID string) (map[string]event, error) {
	r := t.Resources[functionID]
	evs, err := optMap(r.Properties, "Events", functionID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]event, len(evs))
	for name, ev := range evs {
		em, ok := ev.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("samtemplate: %s.Events.%s is not a mapping", functionID, name)
		}
		typ, ok := em["Type"].(string)
		if !ok {
			return nil, fmt.Errorf("samtemplate: %s.Events.%s has no Type", functionID, name)
		}
		props, err := optMap(em, "Properties", functionID+".Events."+name)
		if err != nil {
			return nil, err
		}
		if props == nil {
			props = map[string]any{}
		}
		out[name] = event{typ: typ, props: props}
	}
	return out, nil
}

// ---- typed accessors on decoded YAML ----

func optMap(m map[string]any, key, where string) (map[string]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	mm, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: %s.%s is not a mapping (got %v)", where, key, v)
	}
	return mm, nil
}

func optString(m map[string]any, key, where string) (string, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, fmt.Errorf("samtemplate: %s.%s must be a literal string (got %v)", where, key, v)
	}
	return s, true, nil
}

func optInt(m map[string]any, key, where string) (int, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	switch v := v.(type) {
	case int:
		return v, true, nil
	case string:
		n, err := strconv.Atoi(v)
		if err == nil {
			return n, true, nil
		}
	}
	return 0, false, fmt.Errorf("samtemplate: %s.%s must be a literal integer (got %v)", where, key, v)
}

func optBool(m map[string]any, key, where string) (bool, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, false, nil
	}
	switch v := v.(type) {
	case bool:
		return v, true, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err == nil {
			return b, true, nil
		}
	}
	return false, false, fmt.Errorf("samtemplate: %s.%s must be a literal boolean (got %v)", where, key, v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
