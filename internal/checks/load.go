package checks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
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
func Load(paths []string, stdin io.Reader) ([]*Object, []LoadError) {
	var objs []*Object
	var errs []LoadError
	add := func(name string, b []byte) {
		o, e := Parse(name, b)
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, maxInputSize+1))
			if err != nil || len(b) > maxInputSize {
				errs = append(errs, LoadError{File: "-", Err: fmt.Sprintf("standard input unreadable or over %d bytes", maxInputSize)})
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
			errs = append(errs, LoadError{File: p, Err: err.Error()})
			continue
		}
		sort.Strings(files)
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				errs = append(errs, LoadError{File: f, Err: err.Error()})
				continue
			}
			if fi.Size() > maxInputSize {
				errs = append(errs, LoadError{File: f, Err: fmt.Sprintf("%d bytes, over the %d byte limit", fi.Size(), maxInputSize)})
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, LoadError{File: f, Err: err.Error()})
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
			return nil, []LoadError{*err}
		}
		return []*Object{o}, nil
	}
	if isComposeName(name) {
		o, err := parseCompose(name, b)
		if err != nil {
			return nil, []LoadError{*err}
		}
		return []*Object{o}, nil
	}
	return parseManifests(name, b)
}

func isComposeName(name string) bool {
	b := strings.ToLower(filepath.Base(name))
	return b == "compose.yaml" || b == "compose.yml" || strings.HasPrefix(b, "docker-compose") && (strings.HasSuffix(b, ".yml") || strings.HasSuffix(b, ".yaml"))
}

// parseManifests reads YAML or JSON documents. Documents without kind and
// apiVersion are skipped (values files, configs), except a compose file
// recognized by its top-level services.
func parseManifests(name string, b []byte) ([]*Object, []LoadError) {
	var objs []*Object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for doc := 0; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return objs, []LoadError{{File: name, Line: yamlErrLine(err), Err: "not valid YAML: " + err.Error()}}
		}
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if root.Kind != yaml.MappingNode {
			continue // a scalar or list document is not a manifest
		}
		var raw map[string]any
		if err := n.Decode(&raw); err != nil {
			// YAML that parses but cannot be a manifest, such as a
			// template's {{placeholder}} read as a mapping key.
			return objs, []LoadError{{File: name, Line: yamlErrLine(err), Err: "not valid YAML for a manifest: " + err.Error()}}
		}
		if raw == nil {
			continue
		}
		if _, ok := raw["services"]; ok && raw["kind"] == nil && doc == 0 {
			o, lerr := parseCompose(name, b)
			if lerr != nil {
				return objs, []LoadError{*lerr}
			}
			return append(objs, o), nil
		}
		kind, _ := raw["kind"].(string)
		if kind == "" || raw["apiVersion"] == nil {
			continue
		}
		if kind == "List" || strings.HasSuffix(kind, "List") && raw["items"] != nil {
			items := nodeAt(root, "items")
			list, _ := raw["items"].([]any)
			for i, it := range list {
				m, ok := it.(map[string]any)
				if !ok {
					continue
				}
				var itemNode *yaml.Node
				if items != nil && i < len(items.Content) {
					itemNode = items.Content[i]
				}
				if o, err := newK8sObject(name, m, itemNode); err != nil {
					return objs, []LoadError{{File: name, Line: lineAt(itemNode, 0), Err: err.Error()}}
				} else if o != nil {
					objs = append(objs, o)
				}
			}
			continue
		}
		o, err := newK8sObject(name, raw, &n)
		if err != nil {
			return objs, []LoadError{{File: name, Line: lineAt(root, 0), Err: err.Error()}}
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

func newK8sObject(file string, raw map[string]any, n *yaml.Node) (*Object, error) {
	kind, _ := raw["kind"].(string)
	if kind == "" {
		return nil, nil
	}
	meta, _ := raw["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		name, _ = meta["generateName"].(string)
	}
	ns, _ := meta["namespace"].(string)
	line := 1
	if n != nil {
		r := n
		if r.Kind == yaml.DocumentNode && len(r.Content) > 0 {
			r = r.Content[0]
		}
		line = r.Line
	}
	o := &Object{File: file, Line: line, Kind: kind, Name: name, Namespace: ns, raw: raw, node: n,
		labels: stringMap(meta["labels"]), annotations: stringMap(meta["annotations"])}
	if err := o.workload(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return o, nil
}

// yamlErrLine pulls "line N" out of a YAML error.
func yamlErrLine(err error) int {
	var n int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		fmt.Sscanf(s[i+5:], "%d", &n)
	}
	return n
}
