package localapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"

	"github.com/passport-oss/passport/internal/lambdarie"
	"github.com/passport-oss/passport/internal/localstack"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// Functions supplies each function's Lambda handler to NewLocal in place of
// the in-process one.
type Functions interface {
	// API returns the handler of an HTTP API function.
	API(id string) (localstack.APIFunc, error)
	// Stream returns the handler of a DynamoDB stream function.
	Stream(id string) (localstack.StreamFunc, error)
}

// RIEFunctions serves every function of the template from its built binary
// under the Lambda Runtime Interface Emulator: one emulator per function,
// each answering one invocation at a time (a second request to the same
// function waits; Lambda would start another instance).
type RIEFunctions struct {
	emulators map[string]*lambdarie.Emulator
}

// StartRIEFunctions builds every function of tmpl for this machine, as `sam
// build` does, into binDir, and starts each under its own emulator with the
// environment the template gives it: the template's table and KMS key are
// opts.Table and opts.KMSKeyID, its generated secrets the values NewLocal's
// functions get from the same tmpl (samtemplate.ResolveEnv), and the AWS
// settings (region, credentials, local endpoints) are this process's.
// Function output goes to out.
func StartRIEFunctions(ctx context.Context, tmpl *samtemplate.Template, opts LocalOptions, binDir string, out io.Writer) (*RIEFunctions, error) {
	root, err := lambdarie.ModuleRoot()
	if err != nil {
		return nil, err
	}
	rie, err := lambdarie.InstallEmulator(ctx, "")
	if err != nil {
		return nil, err
	}
	ids := tmpl.FunctionIDs()
	pkgs := make([]string, len(ids))
	for i, id := range ids {
		f, _ := tmpl.Function(id)
		pkgs[i] = "./" + filepath.ToSlash(f.SourceDir)
	}
	bins, err := lambdarie.Build(ctx, lambdarie.BuildOptions{Dir: root, Packages: pkgs, OutDir: binDir})
	if err != nil {
		return nil, err
	}
	resources := localResources(tmpl, opts)
	f := &RIEFunctions{emulators: map[string]*lambdarie.Emulator{}}
	for i, id := range ids {
		cfg, err := lambdarie.TemplateConfig(tmpl, id, resources, nil)
		if err != nil {
			f.Stop()
			return nil, err
		}
		if level := os.Getenv("AWS_LAMBDA_LOG_LEVEL"); level != "" {
			cfg.Env["AWS_LAMBDA_LOG_LEVEL"] = level // as the in-process run honours it
		}
		cfg.Env = lambdarie.Merge(lambdarie.HostAWSEnv(), cfg.Env)
		cfg.Emulator, cfg.Bootstrap, cfg.Output = rie, bins[i].Path, out
		if f.emulators[id], err = lambdarie.Start(ctx, cfg); err != nil {
			f.Stop()
			return nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	return f, nil
}

// localResources maps the template's table and KMS key resources to the
// local ones.
func localResources(tmpl *samtemplate.Template, opts LocalOptions) map[string]string {
	resources := map[string]string{}
	for id, r := range tmpl.Resources {
		switch r.Type {
		case samtemplate.TypeTable:
			resources[id] = opts.Table
		case "AWS::KMS::Key", "AWS::KMS::Alias":
			resources[id] = opts.KMSKeyID
		}
	}
	return resources
}

// API implements Functions.
func (f *RIEFunctions) API(id string) (localstack.APIFunc, error) {
	e, ok := f.emulators[id]
	if !ok {
		return nil, fmt.Errorf("no emulator runs %s", id)
	}
	return lambdarie.Handler[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse](e), nil
}

// Stream implements Functions.
func (f *RIEFunctions) Stream(id string) (localstack.StreamFunc, error) {
	e, ok := f.emulators[id]
	if !ok {
		return nil, fmt.Errorf("no emulator runs %s", id)
	}
	return lambdarie.Handler[events.DynamoDBEvent, events.DynamoDBEventResponse](e), nil
}

// Stop stops every emulator and its function.
func (f *RIEFunctions) Stop() error {
	var errs []error
	for _, e := range f.emulators {
		errs = append(errs, e.Stop())
	}
	return errors.Join(errs...)
}
