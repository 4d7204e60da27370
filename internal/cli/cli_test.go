package cli

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// run executes bulwark in-process and returns its exit code and output.
func run(t testing.TB, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	code := Run(context.Background(), args, getenv, bytes.NewReader(nil), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}
