package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/passport-oss/passport/internal/localapp"
	"github.com/passport-oss/passport/internal/samtemplate"
)

// lambdaFlag registers -lambda, how the functions run: "go", in this
// process (the default), or "rie", each built binary under the Lambda
// Runtime Interface Emulator (LAMBDA overrides the default).
func lambdaFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("LAMBDA")
	if def == "" {
		def = "go"
	}
	return fs.String("lambda", def, `how the functions run: "go" (in this process) or "rie" (built binaries under aws-lambda-rie, as Lambda runs them)`)
}

// startFunctions returns what serves the functions in mode (nil: this
// process), a line for the banner, and what stops them.
func startFunctions(ctx context.Context, mode string, tmpl *samtemplate.Template, opts localapp.LocalOptions, root string) (localapp.Functions, string, func(), error) {
	switch mode {
	case "go":
		return nil, "in this process (-lambda=rie runs the built binaries)", func() {}, nil
	case "rie":
		fmt.Println("Building the functions and starting one Lambda Runtime Interface Emulator each ...")
		fns, err := localapp.StartRIEFunctions(ctx, tmpl, opts, filepath.Join(root, ".cache", "rie"), functionLog{os.Stderr})
		if err != nil {
			return nil, "", nil, err
		}
		return fns, "built binaries under aws-lambda-rie, one emulator per function, one request at a time each", func() { fns.Stop() }, nil
	}
	return nil, "", nil, fmt.Errorf(`-lambda %q: want "go" or "rie"`, mode)
}

// functionLog passes on the functions' own lines and the emulator's
// START/END/REPORT and warnings, not its routine info lines.
type functionLog struct{ w io.Writer }

func (l functionLog) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "[INFO] (rapid)") {
		return len(b), nil
	}
	return l.w.Write(b)
}
