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
	kjson "sigs.k8s.io/json"
	k8syaml "sigs.k8s.io/yaml"
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

// parseManifests reads YAML or JSON documents the way kubectl does:
// documents are split on "---" lines (k8s.io/apimachinery's YAMLReader)
// and each is read with YAML 1.1 semantics (sigs.k8s.io/yaml), so
// "privileged: yes" is privileged here as it is when applied. yaml.v3
// reads the same bytes again only for line numbers. Documents without
// kind and apiVersion are skipped (values files, configs), except a
// compose file recognized by its top-level services. An object that
// cannot be read becomes an unreadable Object, which BW-INP-001 reports:
// a gate must never pass what it could not read.
func parseManifests(name string, b []byte) ([]*Object, []LoadError) {
	var objs []*Object
	var errs []LoadError
	unreadable := func(le LoadError, kind, objName, ns string) {
		errs = append(errs, le)
		objs = append(objs, unreadableObject(le, kind, objName, ns))
	}
	docs := splitDocuments(b)
	stream := decodeStream(b, len(docs))
	for i, doc := range docs {
		var n yaml.Node
		if stream != nil {
			n = stream[i] // lines are the file's already
		} else if err := yaml.Unmarshal(doc.body, &n); err != nil {
			line := doc.line
			if l := yamlErrLine(err); l > 0 {
				line += l - 1
			}
			unreadable(LoadError{File: name, Line: line, Err: yamlProblem(doc.body, err)}, "", "", "")
			if bytes.Contains(b, []byte("{{")) {
				return objs, errs // a template: one finding says render it first
			}
			continue
		}
		if stream == nil {
			shiftLines(&n, doc.line-1)
		}
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if root.Kind != yaml.MappingNode {
			continue // empty, a scalar or a list document is not a manifest
		}
		if nodeAt(root, "services") != nil && nodeAt(root, "kind") == nil && i == 0 {
			o, lerr := parseCompose(name, b)
			if lerr != nil {
				unreadable(*lerr, "ComposeFile", name, "")
				return objs, errs
			}
			return append(objs, o), errs
		}
		kind, objName, ns := identity(root)
		if kind == "" || nodeAt(root, "apiVersion") == nil {
			continue
		}
		raw, err := fastDecodeLikeKubectl(&n, doc.body)
		if err != nil {
			unreadable(LoadError{File: name, Line: root.Line, Err: yamlProblem(doc.body, err)}, kind, objName, ns)
			continue
		}
		if strings.HasSuffix(kind, "List") && raw["items"] != nil {
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
					k, n, ns := identity(itemNode)
					unreadable(LoadError{File: name, Line: errLine(err, itemNode, lineAt(itemNode, root.Line)), Err: err.Error()}, k, n, ns)
				} else if o != nil {
					objs = append(objs, o)
				}
			}
			continue
		}
		o, err := newK8sObject(name, raw, &n)
		if err != nil {
			unreadable(LoadError{File: name, Line: errLine(err, root, root.Line), Err: err.Error()}, kind, objName, ns)
			continue
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs, errs
}

// decodeLikeKubectl converts a document to JSON as kubectl does (YAML
// 1.1: yes, on and True are booleans) and reads it with the API server's
// decoder (case-sensitive keys, integers kept as int64), so a field is
// read here exactly when the cluster would read it.
func decodeLikeKubectl(doc []byte) (map[string]any, error) {
	j, err := k8syaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// fastDecodeLikeKubectl converts the already parsed node, falling back
// to decodeLikeKubectl for what the fast path does not reproduce.
func fastDecodeLikeKubectl(n *yaml.Node, doc []byte) (map[string]any, error) {
	v, err := valueLikeKubectl(n)
	if err == nil {
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	}
	return decodeLikeKubectl(doc)
}

// errLine is the line of the field an error names, or def.
func errLine(err error, n *yaml.Node, def int) int {
	var fe *fieldError
	if errors.As(err, &fe) {
		if l := fieldLine(n, fe.Path); l > 0 {
			return l
		}
	}
	return def
}

// decodeStream parses the whole stream with one decoder, the fast way,
// when it yields exactly the documents the splitter found; nil otherwise
// (a syntax error, or a document boundary the two see differently), and
// the documents are then parsed one by one, so one broken document does
// not hide the others.
func decodeStream(b []byte, want int) []yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	out := make([]yaml.Node, 0, want)
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || len(out) == want {
			return nil
		}
		out = append(out, n)
	}
	if len(out) != want {
		return nil
	}
	return out
}

// document is one YAML document of a stream and the line it starts on.
type document struct {
	line int
	body []byte
}

// splitDocuments splits a stream as k8s.io/apimachinery's YAMLReader
// does: a line starting with "---" followed by nothing but spaces or a
// comment ends a document.
func splitDocuments(b []byte) []document {
	var docs []document
	start, startLine, line := 0, 1, 1
	for off := 0; off < len(b); line++ {
		end := bytes.IndexByte(b[off:], '\n')
		next := len(b)
		if end >= 0 {
			next = off + end + 1
		}
		l := b[off:next]
		if bytes.HasPrefix(l, []byte("---")) {
			rest := strings.TrimSpace(string(l[3:]))
			if rest == "" || rest[0] == '#' {
				docs = append(docs, document{startLine, b[start:off]})
				start, startLine = next, line+1
			}
		}
		off = next
	}
	return append(docs, document{startLine, b[start:]})
}

// shiftLines moves a document's line numbers to where it sits in the file.
func shiftLines(n *yaml.Node, by int) {
	if by == 0 || n == nil {
		return
	}
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// identity reads kind, name and namespace from a mapping node, so even an
// object that fails to decode is named in its finding.
func identity(n *yaml.Node) (kind, name, ns string) {
	scalar := func(path ...string) string {
		if v := nodeAt(n, path...); v != nil && v.Kind == yaml.ScalarNode {
			return v.Value
		}
		return ""
	}
	name = scalar("metadata", "name")
	if name == "" {
		name = scalar("metadata", "generateName")
	}
	return scalar("kind"), name, scalar("metadata", "namespace")
}

// yamlProblem turns a YAML error into what a user can act on: no Go type
// names, and a hint when the document is an unrendered template.
func yamlProblem(doc []byte, err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "invalid map key"); i >= 0 {
		msg = "a mapping key is itself a mapping or list"
	}
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	if j := strings.Index(msg, "line "); j == 0 {
		if k := strings.Index(msg, ": "); k > 0 {
			msg = msg[k+2:]
		}
	}
	if bytes.Contains(doc, []byte("{{")) {
		return "not valid YAML (" + msg + "): this looks like a Helm or Go template; render it first (helm template CHART | bulwark check -)"
	}
	return "not valid YAML: " + msg
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
		return nil, err
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
