// Package checks is bulwark's configuration hardening engine: one set of
// checks, with metadata kept as data, run over Kubernetes manifests,
// Dockerfiles and compose files (and, through the same results, images
// and the live Docker Engine). Passes are recorded as well as failures,
// because a compliance report needs the denominator.
package checks

import (
	"fmt"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"bulwark.dev/bulwark/internal/dockerfile"
	"bulwark.dev/bulwark/internal/k8s"
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

	// k8s is the decoded Kubernetes object, typed views included.
	k8s         *k8s.Object
	raw         map[string]any
	node        *yaml.Node
	labels      map[string]string
	annotations map[string]string

	// Pod is the pod spec of a workload (Pod, Deployment, CronJob, ...).
	pod         *corev1.PodSpec
	podMeta     podMeta
	podSpecPath []string
	containers  []k8s.Container

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
	if o.Namespace == "" && o.Name != "" && o.raw != nil && !k8s.ClusterScoped[o.Kind] {
		names = append(names, fmt.Sprintf("%s default/%s", o.Kind, o.Name))
	}
	return names
}

// The YAML helpers are the Kubernetes model's, shared with compose.
var (
	nodeAt   = k8s.NodeAt
	lineAt   = k8s.LineAt
	itemLine = k8s.ItemLine
	keyLine  = k8s.KeyLine
	dig      = k8s.Dig
)

func sortStrings(s []string) { sort.Strings(s) }

func sortFailures(f []Failure) {
	sort.Slice(f, func(i, j int) bool { return f[i].Message < f[j].Message })
}

// jsonNumber is how OPA hands numbers to Go.
type jsonNumber = interface{ Int64() (int64, error) }

// FromK8s is the checks' view of a decoded Kubernetes object, for
// callers that decoded it themselves (the admission webhook).
func FromK8s(ko *k8s.Object) *Object {
	o := &Object{File: ko.File, Line: ko.Line, Kind: ko.Kind, Name: ko.Name, Namespace: ko.Namespace,
		k8s: ko, raw: ko.Raw, node: ko.Node, labels: ko.Labels, annotations: ko.Annotations}
	if p := ko.Pod; p != nil {
		o.pod, o.podSpecPath, o.containers = p.Spec, p.Path, p.Containers
		o.podMeta = podMeta{p.Labels, p.Annotations}
	}
	return o
}

// K8s is the decoded Kubernetes object, nil for Dockerfiles, compose
// files and unreadable input: other analyses (network reachability) read
// the same objects the checks do.
func (o *Object) K8s() *k8s.Object { return o.k8s }
