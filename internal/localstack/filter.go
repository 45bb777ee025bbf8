package localstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Filter is one compiled event source mapping filter pattern (Lambda event
// filtering, the EventBridge pattern syntax). Supported: exact values
// (string, number, boolean, null), prefix, suffix, equals-ignore-case,
// anything-but (a value, a list of values, or {"prefix": ...}) and exists.
// Anything else (numeric, cidr, wildcard, $or, ...) is rejected by
// CompileFilter, so an unsupported pattern fails at start, not silently.
type Filter struct {
	Pattern string
	root    *patternObject
}

type patternObject struct {
	keys     []string // sorted, for deterministic evaluation
	children map[string]*patternObject
	leaves   map[string][]matcher
}

type matcherKind int

const (
	mEquals matcherKind = iota
	mPrefix
	mSuffix
	mEqualsIgnoreCase
	mAnythingBut
	mAnythingButPrefix
	mExists
)

type matcher struct {
	kind   matcherKind
	value  any   // mEquals: string, float64, bool or nil
	values []any // mAnythingBut
	str    string
	exists bool
}

// CompileFilter parses one filter pattern (a JSON object).
func CompileFilter(pattern string) (*Filter, error) {
	var raw any
	dec := json.NewDecoder(strings.NewReader(pattern))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("filter pattern %s: invalid JSON: %w", pattern, err)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("filter pattern %s: must be a JSON object", pattern)
	}
	root, err := compileObject(obj, "")
	if err != nil {
		return nil, fmt.Errorf("filter pattern %s: %w", pattern, err)
	}
	return &Filter{Pattern: pattern, root: root}, nil
}

func compileObject(obj map[string]any, path string) (*patternObject, error) {
	p := &patternObject{children: map[string]*patternObject{}, leaves: map[string][]matcher{}}
	for k, v := range obj {
		at := strings.TrimPrefix(path+"."+k, ".")
		if strings.HasPrefix(k, "$") {
			return nil, fmt.Errorf("%s: unsupported operator %q", at, k)
		}
		switch v := v.(type) {
		case map[string]any:
			c, err := compileObject(v, at)
			if err != nil {
				return nil, err
			}
			p.children[k] = c
		case []any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: empty list matches nothing", at)
			}
			var ms []matcher
			for _, e := range v {
				m, err := compileMatcher(e, at)
				if err != nil {
					return nil, err
				}
				ms = append(ms, m)
			}
			p.leaves[k] = ms
		default:
			return nil, fmt.Errorf("%s: a leaf must be a list of values or operators, got %v", at, v)
		}
		p.keys = append(p.keys, k)
	}
	sort.Strings(p.keys)
	return p, nil
}

func scalar(v any) (any, bool) {
	switch v := v.(type) {
	case nil, string, bool:
		return v, true
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, false
		}
		return f, true
	case float64:
		return v, true
	}
	return nil, false
}

func compileMatcher(e any, at string) (matcher, error) {
	if v, ok := scalar(e); ok {
		return matcher{kind: mEquals, value: v}, nil
	}
	op, ok := e.(map[string]any)
	if !ok || len(op) != 1 {
		return matcher{}, fmt.Errorf("%s: a matcher must be a value or an object with one operator, got %v", at, e)
	}
	for name, arg := range op {
		switch name {
		case "prefix", "suffix", "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return matcher{}, fmt.Errorf("%s: %s needs a string", at, name)
			}
			kind := map[string]matcherKind{"prefix": mPrefix, "suffix": mSuffix, "equals-ignore-case": mEqualsIgnoreCase}[name]
			return matcher{kind: kind, str: s}, nil
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return matcher{}, fmt.Errorf("%s: exists needs true or false", at)
			}
			return matcher{kind: mExists, exists: b}, nil
		case "anything-but":
			switch a := arg.(type) {
			case []any:
				var vals []any
				for _, x := range a {
					v, ok := scalar(x)
					if !ok {
						return matcher{}, fmt.Errorf("%s: anything-but list holds only values", at)
					}
					vals = append(vals, v)
				}
				return matcher{kind: mAnythingBut, values: vals}, nil
			case map[string]any:
				s, ok := a["prefix"].(string)
				if len(a) != 1 || !ok {
					return matcher{}, fmt.Errorf("%s: only {\"anything-but\":{\"prefix\":...}} is supported", at)
				}
				return matcher{kind: mAnythingButPrefix, str: s}, nil
			default:
				v, ok := scalar(a)
				if !ok {
					return matcher{}, fmt.Errorf("%s: bad anything-but argument %v", at, a)
				}
				return matcher{kind: mAnythingBut, values: []any{v}}, nil
			}
		default:
			return matcher{}, fmt.Errorf("%s: unsupported filter operator %q", at, name)
		}
	}
	panic("unreachable")
}

// Match reports whether the event (decoded JSON: map[string]any, []any,
// string, float64 or json.Number, bool, nil) matches the pattern.
func (f *Filter) Match(event any) bool {
	return matchObject(f.root, event, true)
}

func matchObject(p *patternObject, v any, present bool) bool {
	obj, _ := v.(map[string]any)
	if present && obj == nil {
		return false
	}
	for _, k := range p.keys {
		cv, ok := obj[k]
		if c, isObj := p.children[k]; isObj {
			if !matchObject(c, cv, ok) {
				return false
			}
			continue
		}
		if !matchLeaf(p.leaves[k], cv, ok) {
			return false
		}
	}
	return true
}

func matchLeaf(ms []matcher, v any, present bool) bool {
	if _, isObj := v.(map[string]any); isObj {
		return false // leaf patterns only match leaves
	}
	values := []any{v}
	if list, ok := v.([]any); ok {
		values = list // a list matches when any element matches
	}
	for _, m := range ms {
		if m.kind == mExists {
			if m.exists == present {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		for _, x := range values {
			if m.matches(x) {
				return true
			}
		}
	}
	return false
}

func (m matcher) matches(x any) bool {
	x, ok := scalar(x)
	if !ok {
		return false
	}
	s, isStr := x.(string)
	switch m.kind {
	case mEquals:
		return x == m.value
	case mPrefix:
		return isStr && strings.HasPrefix(s, m.str)
	case mSuffix:
		return isStr && strings.HasSuffix(s, m.str)
	case mEqualsIgnoreCase:
		return isStr && strings.EqualFold(s, m.str)
	case mAnythingBut:
		for _, v := range m.values {
			if x == v {
				return false
			}
		}
		return true
	case mAnythingButPrefix:
		return isStr && !strings.HasPrefix(s, m.str)
	}
	return false
}

// Filters is the FilterCriteria of an event source mapping: a record is
// delivered when any filter matches (no filters: every record).
type Filters []*Filter

// CompileFilters compiles every pattern, failing on the first bad one.
func CompileFilters(patterns []string) (Filters, error) {
	var fs Filters
	for _, p := range patterns {
		f, err := CompileFilter(p)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// MatchRecord reports whether the record, as the JSON Lambda delivers, passes
// the filters.
func (fs Filters) MatchRecord(rec events.DynamoDBEventRecord) (bool, error) {
	if len(fs) == 0 {
		return true, nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Match(v) {
			return true, nil
		}
	}
	return false, nil
}
