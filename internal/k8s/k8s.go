// Package k8s is bulwark's one reading of Kubernetes objects, shared by
// the hardening checks, the admission webhook, network analysis and image
// pinning: manifests are decoded once, the way kubectl and the API server
// read them (YAML 1.1 scalars, case-sensitive keys, int64 integers), with
// the source file and line of every object and container kept for
// findings. An object the API server would refuse is an Error, never a
// silently skipped object: a gate must not pass what it could not read.
package k8s

import (
	"fmt"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Object is one Kubernetes object. The typed views are set for the kinds
// analyses reason about; every object keeps Raw, the generic form, for
// the rest and for Rego.
type Object struct {
	File string
	// Line is where the object starts in File (1 when unknown).
	Line       int
	APIVersion string
	Kind       string
	// Name is metadata.name, or metadata.generateName when unnamed.
	Name string
	// Namespace is as written: empty means the client's current one.
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string

	// Raw is the object as the API server's decoder reads it.
	Raw map[string]any
	// Node is the YAML the object was read from, for line numbers; nil
	// for objects that arrived as JSON (admission requests).
	Node *yaml.Node

	// Pod is the pod template of a workload kind (Pod, Deployment,
	// CronJob, ...), nil for everything else.
	Pod *PodTemplate

	// Service and NetworkPolicy are the specs of those kinds (the
	// metadata is above); StorageClass is the whole class but its
	// metadata; PeerAuthentication is Istio's mTLS policy spec
	// (security.istio.io).
	Service            *corev1.ServiceSpec
	NetworkPolicy      *networkingv1.NetworkPolicySpec
	StorageClass       *storagev1.StorageClass
	PeerAuthentication *PeerAuthentication
	// Calico and AdminNetworkPolicy objects are kept in Raw until the
	// network analysis needs their typed form.
}

// PodTemplate is the pod a workload runs.
type PodTemplate struct {
	Spec *corev1.PodSpec
	// Path is where the spec sits in the object ("spec", "template",
	// "spec" for a Deployment).
	Path []string
	// Labels and Annotations are the pod's own (the template's metadata),
	// which selectors and pod-level annotations apply to.
	Labels      map[string]string
	Annotations map[string]string
	// Containers lists init, regular and ephemeral containers, in that
	// order: every one runs in the pod and must meet the same rules.
	Containers []Container
}

// Container is one container of a pod with where it was written.
type Container struct {
	*corev1.Container
	Init      bool
	Ephemeral bool
	Line      int
	Node      *yaml.Node
}

// PeerAuthentication is the part of Istio's PeerAuthentication that
// decides whether plain text is accepted (the full CRD is not vendored).
type PeerAuthentication struct {
	Selector *struct {
		MatchLabels map[string]string `json:"matchLabels,omitempty"`
	} `json:"selector,omitempty"`
	MTLS *struct {
		Mode string `json:"mode,omitempty"`
	} `json:"mtls,omitempty"`
	PortLevelMTLS map[string]struct {
		Mode string `json:"mode,omitempty"`
	} `json:"portLevelMtls,omitempty"`
}

// Mode is the workload-wide mTLS mode ("" when unset: inherited).
func (p *PeerAuthentication) Mode() string {
	if p == nil || p.MTLS == nil {
		return ""
	}
	return p.MTLS.Mode
}

// NamespaceWide reports whether the policy applies to the whole
// namespace: no workload selector, or one without matchLabels.
func (p *PeerAuthentication) NamespaceWide() bool {
	return p != nil && (p.Selector == nil || p.Selector.MatchLabels == nil)
}

// Error is an object or document that could not be read. Kind, Name and
// Namespace are filled from whatever could be read, so the finding names
// the object.
type Error struct {
	File      string
	Line      int
	Kind      string
	Name      string
	Namespace string
	Err       string
}

func (e Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Err)
}

// ClusterScoped kinds have no namespace.
var ClusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CustomResourceDefinition": true, "PriorityClass": true, "RuntimeClass": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true, "IngressClass": true,
	"CSIDriver": true, "APIService": true, "AdminNetworkPolicy": true, "GlobalNetworkPolicy": true,
}

// PodSpecPaths says where each workload kind keeps its pod spec.
var PodSpecPaths = map[string][]string{
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
