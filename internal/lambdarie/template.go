package lambdarie

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// TemplateConfig returns the Config of function id as template.yaml deploys
// it: its environment (samtemplate.ResolveEnv: resources maps logical ids,
// such as the table and the KMS key, to local values; params overrides
// parameter defaults), plus the AWS_LAMBDA_LOG_FORMAT and
// AWS_LAMBDA_LOG_LEVEL Lambda derives from its LoggingConfig, its Timeout,
// MemorySize and name. The caller adds Emulator, Bootstrap and the AWS
// settings Lambda provides (HostAWSEnv).
func TemplateConfig(tmpl *samtemplate.Template, id string, resources, params map[string]string) (Config, error) {
	f, ok := tmpl.Function(id)
	if !ok {
		return Config{}, fmt.Errorf("lambdarie: template has no function %s", id)
	}
	env, err := tmpl.ResolveEnv(id, resources, params)
	if err != nil {
		return Config{}, err
	}
	if lc, ok := tmpl.Resources[id].Properties["LoggingConfig"].(map[string]any); ok {
		if format, err := value(tmpl, lc["LogFormat"], params); err != nil {
			return Config{}, fmt.Errorf("lambdarie: %s LoggingConfig.LogFormat: %w", id, err)
		} else if format != "" {
			env["AWS_LAMBDA_LOG_FORMAT"] = format
		}
		// Lambda sets AWS_LAMBDA_LOG_LEVEL from ApplicationLogLevel, which
		// only applies with the JSON format.
		if level, err := value(tmpl, lc["ApplicationLogLevel"], params); err != nil {
			return Config{}, fmt.Errorf("lambdarie: %s LoggingConfig.ApplicationLogLevel: %w", id, err)
		} else if level != "" && env["AWS_LAMBDA_LOG_FORMAT"] == "JSON" {
			env["AWS_LAMBDA_LOG_LEVEL"] = level
		}
	}
	return Config{
		Env:          env,
		FunctionName: id,
		Timeout:      time.Duration(f.Timeout) * time.Second,
		MemoryMB:     f.MemorySize,
	}, nil
}

// value resolves a literal or a !Ref to a parameter.
func value(tmpl *samtemplate.Template, v any, params map[string]string) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case samtemplate.Intrinsic:
		name, ok := v.Ref()
		if !ok || tmpl.Parameters[name] == nil {
			return "", fmt.Errorf("cannot resolve %s", v)
		}
		if p, ok := params[name]; ok {
			return p, nil
		}
		if d, ok := tmpl.ParameterDefault(name); ok {
			return d, nil
		}
		return "", fmt.Errorf("parameter %s has no value", name)
	}
	return fmt.Sprint(v), nil
}

// HostAWSEnv returns this process's AWS settings that Lambda would give a
// function in its own way: region, credentials, and the AWS_ENDPOINT_URL_*
// endpoints that point the SDK at local services.
func HostAWSEnv() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "AWS_REGION", k == "AWS_DEFAULT_REGION",
			k == "AWS_ACCESS_KEY_ID", k == "AWS_SECRET_ACCESS_KEY", k == "AWS_SESSION_TOKEN",
			strings.HasPrefix(k, "AWS_ENDPOINT_URL"):
			env[k] = v
		}
	}
	return env
}

// Merge returns one map holding every entry of ms, later maps winning.
func Merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
