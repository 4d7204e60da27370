package checks

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"bulwark.dev/bulwark/internal/k8s"
)

// LoadError is an input that could not be read; the run goes on.
type LoadError struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Err  string `json:"error"`
}

func (e LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Err)
}

// maxInputSize caps one input file.
const maxInputSize = 32 << 20

// Load reads every file under the paths ("-" is standard input, read as
// YAML or JSON manifests): Kubernetes YAML and JSON (multi-document,
// List), Dockerfiles and compose files. Files that are none of those are
// skipped; unreadable or malformed ones become LoadErrors.
//
// Every LoadError also comes back as an unreadable Object, so that the
// input check (BW-INP-001) reports it like any other failure.
func Load(paths []string, stdin io.Reader) ([]*Object, []LoadError) {
	var objs []*Object
	var errs []LoadError
	add := func(name string, b []byte) {
		o, e := Parse(name, b)
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	fail := func(le LoadError) {
		errs = append(errs, le)
		objs = append(objs, unreadableObject(le, "", "", ""))
	}
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, maxInputSize+1))
			if err != nil || len(b) > maxInputSize {
				fail(LoadError{File: "-", Err: fmt.Sprintf("standard input unreadable or over %d bytes", maxInputSize)})
				continue
			}
			objs2, errs2 := parseManifests("-", b)
			objs, errs = append(objs, objs2...), append(errs, errs2...)
			continue
		}
		var files []string
		err := filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if n := d.Name(); f != p && (strings.HasPrefix(n, ".") || n == "node_modules") {
					return filepath.SkipDir
				}
				return nil
			}
			if kindOfFile(f) != "" {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			fail(LoadError{File: p, Err: pathProblem(err)})
			continue
		}
		sort.Strings(files)
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				fail(LoadError{File: f, Err: pathProblem(err)})
				continue
			}
			if fi.Size() > maxInputSize {
				fail(LoadError{File: f, Err: fmt.Sprintf("%d bytes, over the %d byte limit", fi.Size(), maxInputSize)})
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				fail(LoadError{File: f, Err: pathProblem(err)})
				continue
			}
			add(f, b)
		}
	}
	return objs, errs
}

// kindOfFile classifies a file by name: "dockerfile", "yaml" or "".
func kindOfFile(f string) string {
	base := filepath.Base(f)
	lower := strings.ToLower(base)
	switch {
	case lower == "dockerfile" || lower == "containerfile" || strings.HasPrefix(lower, "dockerfile.") || strings.HasSuffix(lower, ".dockerfile"):
		return "dockerfile"
	case strings.HasSuffix(lower, ".yaml") || strings.HasSuffix(lower, ".yml") || strings.HasSuffix(lower, ".json"):
		return "yaml"
	}
	return ""
}

// Parse reads one file's content, choosing the parser from its name and
// content.
func Parse(name string, b []byte) ([]*Object, []LoadError) {
	if kindOfFile(name) == "dockerfile" {
		o, err := parseDockerfile(name, b)
		if err != nil {
			return []*Object{unreadableObject(*err, "Dockerfile", name, "")}, []LoadError{*err}
		}
		return []*Object{o}, nil
	}
	if isComposeName(name) {
		o, err := parseCompose(name, b)
		if err != nil {
			return []*Object{unreadableObject(*err, "ComposeFile", name, "")}, []LoadError{*err}
		}
		return []*Object{o}, nil
	}
	return parseManifests(name, b)
}

// pathProblem strips Go's "lstat"/"open" prefixes: the file is named
// beside the message already.
func pathProblem(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return "no such file or directory"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// unreadableObject stands for input that could not be read, so that it
// fails the input check instead of silently passing every other one.
func unreadableObject(le LoadError, kind, name, ns string) *Object {
	if kind == "" {
		kind = "File"
	}
	if name == "" && kind == "File" {
		name = le.File
	}
	line := le.Line
	if line == 0 {
		line = 1
	}
	return &Object{File: le.File, Line: line, Kind: kind, Name: name, Namespace: ns, unreadable: &le}
}

func isComposeName(name string) bool {
	b := strings.ToLower(filepath.Base(name))
	return b == "compose.yaml" || b == "compose.yml" || strings.HasPrefix(b, "docker-compose") && (strings.HasSuffix(b, ".yml") || strings.HasSuffix(b, ".yaml"))
}

// parseManifests reads YAML or JSON manifests through the Kubernetes
// model (k8s.Decode: kubectl's reading, YAML 1.1 included); a compose
// file recognized by its top-level services goes to the compose reader.
// An object that cannot be read becomes an unreadable Object, which
// BW-INP-001 reports: a gate must never pass what it could not read.
func parseManifests(name string, b []byte) ([]*Object, []LoadError) {
	d := k8s.Decode(name, b)
	if d.Compose {
		o, lerr := parseCompose(name, b)
		if lerr != nil {
			return []*Object{unreadableObject(*lerr, "ComposeFile", name, "")}, []LoadError{*lerr}
		}
		return []*Object{o}, nil
	}
	objs := make([]*Object, 0, len(d.Objects)+len(d.Errors))
	for _, ko := range d.Objects {
		objs = append(objs, FromK8s(ko))
	}
	var errs []LoadError
	for _, e := range d.Errors {
		le := LoadError{File: e.File, Line: e.Line, Err: e.Err}
		errs = append(errs, le)
		objs = append(objs, unreadableObject(le, e.Kind, e.Name, e.Namespace))
	}
	return objs, errs
}
