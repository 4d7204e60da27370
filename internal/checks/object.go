// Package checks is bulwark's configuration hardening engine: one set of
// checks, with metadata kept as data, run over Kubernetes manifests,
// Dockerfiles and compose files (and, through the same results, images
// and the live Docker Engine). Passes are recorded as well as failures,
// because a compliance report needs the denominator.
package checks

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
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

	dockerfile *dockerfile
	compose    *composeFile
	docker     *DockerState
	container  *DockerContainer
	image      *ImageState

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
	if err := json.Unmarshal(b, &ps); err != nil {
		return fmt.Errorf("pod spec: %w", err)
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
