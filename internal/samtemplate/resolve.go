package samtemplate

import (
	"fmt"
	"slices"
	"strings"
)

// noValue stands in for AWS::NoValue while resolving: the map entry or list
// element it ends up in is removed.
type noValue struct{}

// Resolve returns v with the intrinsics that depend only on parameters worked
// out, as AWS::LanguageExtensions does before the SAM transform reads the
// template: a Ref to a parameter takes its value (params[name], else the
// parameter's Default; a CommaDelimitedList becomes a list of strings),
// Fn::If takes the branch its condition picks (Conditions are evaluated with
// Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition), and AWS::NoValue
// removes the map entry or list element it stands in. Anything else, such as
// a Ref to a resource, Fn::GetAtt or Fn::Sub, is left as it is.
//
// A value in params that the parameter's AllowedValues do not list is an
// error, as CloudFormation would refuse it.
func (t *Template) Resolve(v any, params map[string]string) (any, error) {
	r := &resolver{t: t, params: params, conds: map[string]bool{}, evaluating: map[string]bool{}}
	out, err := r.value(v)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	if _, ok := out.(noValue); ok {
		return nil, nil
	}
	return out, nil
}

type resolver struct {
	t          *Template
	params     map[string]string
	conds      map[string]bool // evaluated conditions
	evaluating map[string]bool // conditions being evaluated, to catch cycles
}

func (r *resolver) value(v any) (any, error) {
	switch v := v.(type) {
	case Intrinsic:
		return r.intrinsic(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			re, err := r.value(e)
			if err != nil {
				return nil, err
			}
			if _, drop := re.(noValue); !drop {
				out[k] = re
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			re, err := r.value(e)
			if err != nil {
				return nil, err
			}
			if _, drop := re.(noValue); !drop {
				out = append(out, re)
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) intrinsic(in Intrinsic) (any, error) {
	switch in.Fn {
	case "Ref":
		name, _ := in.Args.(string)
		if name == "AWS::NoValue" {
			return noValue{}, nil
		}
		if _, ok := r.t.Parameters[name]; ok {
			return r.parameter(name)
		}
		return in, nil
	case "Fn::If":
		args, ok := in.Args.([]any)
		if !ok || len(args) != 3 {
			return nil, fmt.Errorf("Fn::If needs [condition, then, else], got %v", in.Args)
		}
		name, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("Fn::If condition must be a condition name, got %v", args[0])
		}
		cond, err := r.condition(name)
		if err != nil {
			return nil, err
		}
		if cond {
			return r.value(args[1])
		}
		return r.value(args[2])
	}
	// Leave the function, but resolve what it is given (a Ref inside a Join).
	args, err := r.value(in.Args)
	if err != nil {
		return nil, err
	}
	return Intrinsic{Fn: in.Fn, Args: args}, nil
}

// parameter returns a parameter's value: a string, or a list of strings for
// list types.
func (r *resolver) parameter(name string) (any, error) {
	p := r.t.Parameters[name]
	s, given := r.params[name]
	if !given {
		d, ok := p["Default"]
		if !ok {
			return nil, fmt.Errorf("parameter %s has no value and no Default", name)
		}
		s = fmt.Sprint(d)
	}
	if allowed, ok := p["AllowedValues"].([]any); ok && given {
		if !slices.ContainsFunc(allowed, func(a any) bool { return fmt.Sprint(a) == s }) {
			return nil, fmt.Errorf("parameter %s: %q is not one of its AllowedValues %v", name, s, allowed)
		}
	}
	typ, _ := p["Type"].(string)
	if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
		var list []any
		for _, e := range strings.Split(s, ",") {
			list = append(list, strings.TrimSpace(e))
		}
		return list, nil
	}
	return s, nil
}

func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.conds[name]; ok {
		return v, nil
	}
	expr, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	if r.evaluating[name] {
		return false, fmt.Errorf("condition %q refers to itself", name)
	}
	r.evaluating[name] = true
	v, err := r.boolean(expr)
	delete(r.evaluating, name)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.conds[name] = v
	return v, nil
}

// boolean evaluates a condition function.
func (r *resolver) boolean(expr any) (bool, error) {
	in, ok := expr.(Intrinsic)
	if !ok {
		return false, fmt.Errorf("%v is not a condition function", expr)
	}
	if in.Fn == "Condition" {
		name, _ := in.Args.(string)
		return r.condition(name)
	}
	args, ok := in.Args.([]any)
	if !ok {
		return false, fmt.Errorf("%s needs a list, got %v", in.Fn, in.Args)
	}
	switch in.Fn {
	case "Fn::Equals":
		if len(args) != 2 {
			return false, fmt.Errorf("Fn::Equals needs two values, got %v", args)
		}
		a, err := r.scalar(args[0])
		if err != nil {
			return false, err
		}
		b, err := r.scalar(args[1])
		if err != nil {
			return false, err
		}
		return a == b, nil
	case "Fn::Not":
		if len(args) != 1 {
			return false, fmt.Errorf("Fn::Not needs one condition, got %v", args)
		}
		v, err := r.boolean(args[0])
		return !v, err
	case "Fn::And", "Fn::Or":
		and := in.Fn == "Fn::And"
		for _, a := range args {
			v, err := r.boolean(a)
			if err != nil {
				return false, err
			}
			if v != and {
				return v, nil
			}
		}
		return and, nil
	}
	return false, fmt.Errorf("%s is not a condition function", in.Fn)
}

// scalar resolves an operand of Fn::Equals to a string.
func (r *resolver) scalar(v any) (string, error) {
	rv, err := r.value(v)
	if err != nil {
		return "", err
	}
	switch rv := rv.(type) {
	case string, int, float64, bool:
		return fmt.Sprint(rv), nil
	case []any: // a list parameter compares as its comma-joined text
		parts := make([]string, len(rv))
		for i, e := range rv {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("cannot evaluate %v before deployment", v)
}
