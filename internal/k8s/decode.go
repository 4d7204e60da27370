package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	kjson "sigs.k8s.io/json"
	k8syaml "sigs.k8s.io/yaml"
)

// Decoded is what one file holds.
type Decoded struct {
	Objects []*Object
	// Errors are the documents and objects that could not be read, in
	// file order; each one must count against the input.
	Errors []Error
	// Compose is set when the file is a compose file (its first document
	// has top-level services and no kind); nothing else was read.
	Compose bool
}

// Decode reads a YAML or JSON stream the way kubectl does: documents are
// split on "---" lines (k8s.io/apimachinery's YAMLReader) and each is
// read with YAML 1.1 semantics (sigs.k8s.io/yaml), so "privileged: yes"
// is privileged here as it is when applied. yaml.v3 reads the bytes once
// for line numbers and, on the fast path, for values too. Documents
// without kind and apiVersion are skipped (values files, configs); List
// kinds are expanded into their items.
func Decode(file string, b []byte) Decoded {
	var d Decoded
	fail := func(line int, msg string, n *yaml.Node) {
		kind, name, ns := identity(n)
		d.Errors = append(d.Errors, Error{File: file, Line: line, Kind: kind, Name: name, Namespace: ns, Err: msg})
	}
	docs := splitDocuments(b)
	stream := decodeStream(b, len(docs))
	for i, doc := range docs {
		var n yaml.Node
		if stream != nil {
			n = stream[i] // lines are the file's already
		} else if err := yaml.Unmarshal(doc.body, &n); err != nil {
			line := doc.line
			if l := YAMLErrLine(err); l > 0 {
				line += l - 1
			}
			fail(line, YAMLProblem(doc.body, err), nil)
			if bytes.Contains(b, []byte("{{")) {
				return d // a template: one error says render it first
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
		if i == 0 && NodeAt(root, "services") != nil && NodeAt(root, "kind") == nil {
			return Decoded{Compose: true}
		}
		if kind, _, _ := identity(root); kind == "" || NodeAt(root, "apiVersion") == nil {
			continue
		}
		raw, err := fastDecodeLikeKubectl(&n, doc.body)
		if err != nil {
			fail(root.Line, YAMLProblem(doc.body, err), root)
			continue
		}
		kind, _ := raw["kind"].(string)
		if strings.HasSuffix(kind, "List") && raw["items"] != nil {
			items := NodeAt(root, "items")
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
				d.add(file, m, itemNode, LineAt(itemNode, root.Line), fail)
			}
			continue
		}
		d.add(file, raw, root, root.Line, fail)
	}
	return d
}

func (d *Decoded) add(file string, raw map[string]any, n *yaml.Node, line int, fail func(int, string, *yaml.Node)) {
	o, err := newObject(file, raw, n)
	if err != nil {
		fail(errLine(err, n, line), err.Error(), n)
		return
	}
	if o != nil {
		d.Objects = append(d.Objects, o)
	}
}

// FromJSON reads one object as the API server received it (an admission
// request's object): JSON, case-sensitive keys, integers kept. Lines are
// unknown and left at 1.
func FromJSON(file string, b []byte) (*Object, error) {
	var raw map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", file, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: not a JSON object (null)", file)
	}
	o, err := newObject(file, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if o == nil {
		return nil, fmt.Errorf("%s: the object has no kind", file)
	}
	return o, nil
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

func newObject(file string, raw map[string]any, n *yaml.Node) (*Object, error) {
	kind, _ := raw["kind"].(string)
	if kind == "" {
		return nil, nil
	}
	apiVersion, _ := raw["apiVersion"].(string)
	meta, _ := raw["metadata"].(map[string]any)
	if err := checkMetadata(meta); err != nil {
		return nil, err
	}
	name, _ := meta["name"].(string)
	if name == "" {
		name, _ = meta["generateName"].(string)
	}
	ns, _ := meta["namespace"].(string)
	line := 1
	if r := docRoot(n); r != nil {
		line = r.Line
	}
	o := &Object{File: file, Line: line, APIVersion: apiVersion, Kind: kind, Name: name, Namespace: ns, Raw: raw, Node: n,
		Labels: StringMap(meta["labels"]), Annotations: StringMap(meta["annotations"])}
	if err := o.typed(); err != nil {
		return nil, err
	}
	return o, nil
}

// typed fills the typed views. A field of the wrong type is an error, as
// the API server refuses the object.
func (o *Object) typed() error {
	if path, ok := PodSpecPaths[o.Kind]; ok {
		return o.podTemplate(path)
	}
	spec, _ := o.Raw["spec"].(map[string]any)
	switch {
	case o.Kind == "Service" && o.APIVersion == "v1":
		o.Service = &corev1.ServiceSpec{}
		return decodeInto([]string{"spec"}, spec, o.Service)
	case o.Kind == "NetworkPolicy" && o.APIVersion == "networking.k8s.io/v1":
		o.NetworkPolicy = &networkingv1.NetworkPolicySpec{}
		return decodeInto([]string{"spec"}, spec, o.NetworkPolicy)
	case o.Kind == "StorageClass" && strings.HasPrefix(o.APIVersion, "storage.k8s.io/"):
		// Everything but the metadata, which the typed view does not need.
		body := make(map[string]any, len(o.Raw))
		for k, v := range o.Raw {
			if k != "metadata" {
				body[k] = v
			}
		}
		o.StorageClass = &storagev1.StorageClass{}
		return decodeInto(nil, body, o.StorageClass)
	case o.Kind == "PeerAuthentication" && strings.HasPrefix(o.APIVersion, "security.istio.io/"):
		o.PeerAuthentication = &PeerAuthentication{}
		return decodeInto([]string{"spec"}, spec, o.PeerAuthentication)
	}
	return nil
}

// decodeInto reads a generic value into a typed one as the API server
// would, naming the refused field relative to the object.
func decodeInto(path []string, v any, into any) error {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(b, into); err != nil {
		return decodeProblem(path, err)
	}
	return nil
}

func (o *Object) podTemplate(path []string) error {
	spec, ok := Dig(o.Raw, path...).(map[string]any)
	if !ok {
		return nil // a workload without a pod spec has nothing to run
	}
	var ps corev1.PodSpec
	if err := decodeInto(path, spec, &ps); err != nil {
		return err
	}
	pt := &PodTemplate{Spec: &ps, Path: path}
	if o.Kind == "Pod" {
		pt.Labels, pt.Annotations = o.Labels, o.Annotations
	} else {
		meta, _ := Dig(o.Raw, append(path[:len(path)-1:len(path)-1], "metadata")...).(map[string]any)
		pt.Labels, pt.Annotations = StringMap(meta["labels"]), StringMap(meta["annotations"])
	}
	specNode := NodeAt(o.Node, path...)
	eph := make([]corev1.Container, 0, len(ps.EphemeralContainers))
	for _, ec := range ps.EphemeralContainers {
		eph = append(eph, corev1.Container(ec.EphemeralContainerCommon))
	}
	for _, list := range []struct {
		key       string
		cs        []corev1.Container
		init, eph bool
	}{{"initContainers", ps.InitContainers, true, false}, {"containers", ps.Containers, false, false}, {"ephemeralContainers", eph, false, true}} {
		seq := NodeAt(specNode, list.key)
		for i := range list.cs {
			var n *yaml.Node
			if seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
				n = seq.Content[i]
			}
			pt.Containers = append(pt.Containers, Container{&list.cs[i], list.init, list.eph, ItemLine(seq, i, o.Line), n})
		}
	}
	o.Pod = pt
	return nil
}

// fieldError is a field the API server would refuse; Path locates it in
// the document for the error's line.
type fieldError struct {
	Path []string
	msg  string
}

func (e *fieldError) Error() string { return e.msg }

// decodeProblem says which field the API server would refuse and why,
// in the object's own terms rather than Go's.
func decodeProblem(prefix []string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		path := append([]string(nil), prefix...)
		for _, part := range strings.Split(te.Field, ".") {
			// Embedded Go structs (VolumeSource) are not part of the object.
			if part != "" && !unicode.IsUpper(rune(part[0])) {
				path = append(path, part)
			}
		}
		return &fieldError{Path: path, msg: fmt.Sprintf("%s: a %s where Kubernetes wants %s; the API server refuses this object, so it was not checked", strings.Join(path, "."), te.Value, kubeType(te.Type.String()))}
	}
	if len(prefix) == 0 {
		return err
	}
	return fmt.Errorf("%s: %v", strings.Join(prefix, "."), err)
}

func kubeType(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "bool"):
		return "a boolean (true or false)"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map") || strings.Contains(goType, "."):
		return "a mapping"
	}
	return goType
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

// fieldLine finds the line of a field path, trying every item of the
// lists on the way (the decoder's path has no indexes).
func fieldLine(n *yaml.Node, path []string) int {
	n = docRoot(n)
	if n == nil {
		return 0
	}
	if len(path) == 0 {
		return n.Line
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, it := range n.Content {
			if l := fieldLine(it, path); l > 0 {
				return l
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == path[0] {
				if len(path) == 1 {
					return n.Content[i].Line
				}
				return fieldLine(n.Content[i+1], path[1:])
			}
		}
	}
	return 0
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
// object that fails to decode is named in its error.
func identity(n *yaml.Node) (kind, name, ns string) {
	scalar := func(path ...string) string {
		if v := NodeAt(n, path...); v != nil && v.Kind == yaml.ScalarNode {
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

// YAMLProblem turns a YAML error into what a user can act on: no Go type
// names, and a hint when the document is an unrendered template.
func YAMLProblem(doc []byte, err error) string {
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

// YAMLErrLine pulls "line N" out of a YAML error (0 when it names none).
func YAMLErrLine(err error) int {
	var n int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		fmt.Sscanf(s[i+5:], "%d", &n)
	}
	return n
}

// checkMetadata refuses what the API server refuses in metadata: a
// namespace of "y" read as YAML 1.1's true would otherwise put the object
// silently in the default namespace, and a label true would select as
// "true".
func checkMetadata(meta map[string]any) error {
	wrong := func(path string, v any) error {
		return &fieldError{Path: strings.Split(path, "."), msg: fmt.Sprintf("%s: a %s where Kubernetes wants a string; the API server refuses this object, so it was not checked", path, jsonKind(v))}
	}
	for _, k := range []string{"name", "namespace", "generateName"} {
		if v, ok := meta[k]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return wrong("metadata."+k, v)
			}
		}
	}
	for _, k := range []string{"labels", "annotations"} {
		m, ok := meta[k].(map[string]any)
		if !ok {
			continue
		}
		for key, v := range m {
			if _, ok := v.(string); !ok && v != nil {
				return wrong("metadata."+k+"."+key, v)
			}
		}
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int64, int, float64, int32:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}
