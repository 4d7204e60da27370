// Package checks is bulwark's configuration hardening engine: one set of
// checks, with metadata kept as data, run over Kubernetes manifests,
// Dockerfiles and compose files (and, through the same results, images
// and the live Docker Engine). Passes are recorded as well as failures,
// because a compliance report needs the denominator.
package checks

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/open-policy-agent/opa/v1/ast"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"

	"bulwark.dev/bulwark/internal/dockerfile"
)

// Object is one thing checks look at: a Kubernetes object, a Dockerfile
// or a compose file.
type Object struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Kind is the Kubernetes kind, "Dockerfile" or "ComposeFile".
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`

	raw         map[string]any
	node        *yaml.Node
	labels      map[string]string
	annotations map[string]string

	// Pod is the pod spec of a workload (Pod, Deployment, CronJob, ...).
	pod         *corev1.PodSpec
	podMeta     podMeta
	podSpecPath []string
	containers  []containerRef

	dockerfile *dockerfile.File
	compose    *composeFile
	docker     *DockerState
	container  *DockerContainer
	image      *ImageState

	// unreadable is set when the input could not be read; only the
	// input check looks at such an object.
	unreadable *LoadError

	// saNoAutomount is set when the workload's service account, found in
	// the same input, disables token automounting.
	saNoAutomount bool

	regoOnce sync.Once
	regoIn   ast.Value
	regoErr  error
}

type podMeta struct {
	labels      map[string]string
	annotations map[string]string
}

type containerRef struct {
	c    *corev1.Container
	init bool
	line int
	node *yaml.Node
}

// Ref is how results name their object.
func (o *Object) Ref() string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	}
	if o.Name != "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind
}

// exceptionNames are the names an ignore-file object pattern may use for
// o: its reference and, for a namespaced object that names no namespace
// (kubectl puts it in the current one, default unless told otherwise),
// the same with "default/", as the findings about its namespace say.
func (o *Object) exceptionNames() []string {
	names := []string{o.Ref()}
	if o.Namespace == "" && o.Name != "" && o.raw != nil && !clusterScoped[o.Kind] {
		names = append(names, fmt.Sprintf("%s default/%s", o.Kind, o.Name))
	}
	return names
}

// clusterScoped kinds have no namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CustomResourceDefinition": true, "PriorityClass": true, "RuntimeClass": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true, "IngressClass": true,
	"CSIDriver": true, "APIService": true, "AdminNetworkPolicy": true, "GlobalNetworkPolicy": true,
}

// podSpecPaths says where each workload kind keeps its pod template.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"Rollout":               {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
	"DeploymentConfig":      {"spec", "template", "spec"}, // OpenShift
}

// workload fills the pod spec of workload kinds.
func (o *Object) workload() error {
	path, ok := podSpecPaths[o.Kind]
	if !ok {
		return nil
	}
	spec := dig(o.raw, path...)
	m, ok := spec.(map[string]any)
	if !ok {
		return nil // a workload without a pod spec has nothing to check
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var ps corev1.PodSpec
	if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &ps); err != nil {
		return decodeProblem(path, err)
	}
	o.pod, o.podSpecPath = &ps, path
	if o.Kind == "Pod" {
		o.podMeta = podMeta{o.labels, o.annotations}
	} else {
		meta, _ := dig(o.raw, append(path[:len(path)-1:len(path)-1], "metadata")...).(map[string]any)
		o.podMeta = podMeta{stringMap(meta["labels"]), stringMap(meta["annotations"])}
	}
	specNode := nodeAt(o.node, path...)
	for _, list := range []struct {
		key  string
		cs   []corev1.Container
		init bool
	}{{"initContainers", ps.InitContainers, true}, {"containers", ps.Containers, false}, {"ephemeralContainers", ephemeral(ps.EphemeralContainers), false}} {
		seq := nodeAt(specNode, list.key)
		for i := range list.cs {
			var n *yaml.Node
			if seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
				n = seq.Content[i]
			}
			o.containers = append(o.containers, containerRef{&list.cs[i], list.init, itemLine(seq, i, o.Line), n})
		}
	}
	return nil
}

// fieldError is a field the API server would refuse; Path locates it in
// the document for the finding's line.
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
	return fmt.Errorf("%s: %v", strings.Join(prefix, "."), err)
}

// fieldLine finds the line of a field path, trying every item of the
// lists on the way (the decoder's path has no indexes).
func fieldLine(n *yaml.Node, path []string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
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

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		if s, ok := x.(string); ok {
			out[k] = s
		} else if x != nil {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// nodeAt follows mapping keys through a YAML node tree.
func nodeAt(n *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		if n == nil {
			return nil
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// lineAt is the line of the key path, or def.
func lineAt(n *yaml.Node, def int, path ...string) int {
	if m := nodeAt(n, path...); m != nil && m.Line > 0 {
		return m.Line
	}
	return def
}

func itemLine(seq *yaml.Node, i, def int) int {
	if seq == nil || seq.Kind != yaml.SequenceNode || i >= len(seq.Content) {
		return def
	}
	return seq.Content[i].Line
}

// keyLine is the line of a mapping key, or def.
func keyLine(m *yaml.Node, key string, def int) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return def
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return def
}

func sortStrings(s []string) { sort.Strings(s) }

func sortFailures(f []Failure) {
	sort.Slice(f, func(i, j int) bool { return f[i].Message < f[j].Message })
}

// jsonNumber is how OPA hands numbers to Go.
type jsonNumber = interface{ Int64() (int64, error) }

// ephemeral views debug containers as containers: they run in the pod
// with the same fields and must meet the same rules.
func ephemeral(ecs []corev1.EphemeralContainer) []corev1.Container {
	out := make([]corev1.Container, 0, len(ecs))
	for _, ec := range ecs {
		out = append(out, corev1.Container(ec.EphemeralContainerCommon))
	}
	return out
}
