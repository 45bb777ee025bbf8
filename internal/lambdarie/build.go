package lambdarie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"syscall"
)

// BuildFlags are the go build flags of every function, as the Makefile's
// build-<LogicalId> targets (which `sam build` runs) pass them; Build adds
// CGO_ENABLED=0 and GOOS=linux.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// BuildOptions configures Build.
type BuildOptions struct {
	// Dir is where go build runs: the module's root.
	Dir string
	// Packages are the main packages to build, as go build names them
	// ("./functions/fallback").
	Packages []string
	// OutDir receives <OutDir>/<last element of the package>/bootstrap.
	OutDir string
	// GOARCH is the target architecture; empty means this machine's (to run
	// here), "arm64" is what the template deploys.
	GOARCH string
}

// Binary is one built function.
type Binary struct {
	Package string // as given in BuildOptions.Packages
	Path    string // its bootstrap
	Size    int64  // bytes
}

// Build compiles the packages the way `sam build` does for this project
// (static, BuildFlags) in one go build, and returns them in the order given.
func Build(ctx context.Context, opts BuildOptions) ([]Binary, error) {
	if len(opts.Packages) == 0 || opts.OutDir == "" {
		return nil, errors.New("lambdarie: BuildOptions.Packages and OutDir are required")
	}
	arch := opts.GOARCH
	if arch == "" {
		arch = runtime.GOARCH
	}
	tmp, err := os.MkdirTemp(opts.OutDir, ".build-")
	if err != nil {
		if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
			return nil, err
		}
		if tmp, err = os.MkdirTemp(opts.OutDir, ".build-"); err != nil {
			return nil, err
		}
	}
	defer os.RemoveAll(tmp)

	args := append([]string{"build", "-o", tmp + string(filepath.Separator)}, BuildFlags...)
	args = append(args, opts.Packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("lambdarie: go %v: %w\n%s", args, err, out.Bytes())
	}

	bins := make([]Binary, len(opts.Packages))
	for i, pkg := range opts.Packages {
		name := path.Base(filepath.ToSlash(pkg))
		dir := filepath.Join(opts.OutDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		bin := filepath.Join(dir, "bootstrap")
		if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
			return nil, fmt.Errorf("lambdarie: %s: %w", pkg, err)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return nil, err
		}
		bins[i] = Binary{Package: pkg, Path: bin, Size: fi.Size()}
	}
	return bins, nil
}

// The emulator, built from the Go module proxy at a pinned version. It is
// not a `tool` of this module: its go.mod needs a newer go line than ours.
const (
	EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	EmulatorVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// InstallEmulator builds aws-lambda-rie at EmulatorVersion into binDir
// (default <module root>/.cache/bin) unless it is there, and returns its
// path. Concurrent callers, in other processes too, build it once.
func InstallEmulator(ctx context.Context, binDir string) (string, error) {
	if binDir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return "", err
		}
		binDir = filepath.Join(root, ".cache", "bin")
	}
	bin := filepath.Join(binDir, "aws-lambda-rie-"+EmulatorVersion[len(EmulatorVersion)-12:])
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(binDir, ".aws-lambda-rie.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tmp, err := os.MkdirTemp(binDir, ".rie-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// go install pkg@version ignores the current module; run it outside.
	cmd := exec.CommandContext(ctx, "go", "install", EmulatorPackage+"@"+EmulatorVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=-trimpath")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdarie: go install %s@%s: %w\n%s", EmulatorPackage, EmulatorVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "aws-lambda-rie"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// lockFile takes an exclusive lock on path, across processes.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lambdarie: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// ModuleRoot returns the root of the module holding the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("lambdarie: no go.mod above the working directory")
		}
		dir = parent
	}
}
