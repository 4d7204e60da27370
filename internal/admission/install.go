package admission

import (
	"encoding/base64"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Install describes the webhook configurations to register.
type Install struct {
	// URL is where the API server reaches bulwark (https://host:port);
	// the paths are added.
	URL string
	// CABundle is the PEM of the CA that signed the server's
	// certificate.
	CABundle []byte
	// Namespace is bulwark's own namespace, left out of the webhook so
	// that bulwark can always be repaired.
	Namespace string
	// TimeoutSeconds is the webhook timeout (the policy's).
	TimeoutSeconds int
	// FailOpen sets failurePolicy: Ignore (not recommended).
	FailOpen bool
}

// workloadRules are the resources the webhooks see.
var workloadRules = []map[string]any{
	{"apiGroups": []string{""}, "apiVersions": []string{"v1"}, "operations": []string{"CREATE", "UPDATE"}, "resources": []string{"pods", "pods/ephemeralcontainers", "replicationcontrollers"}, "scope": "Namespaced"},
	{"apiGroups": []string{"apps"}, "apiVersions": []string{"v1"}, "operations": []string{"CREATE", "UPDATE"}, "resources": []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, "scope": "Namespaced"},
	{"apiGroups": []string{"batch"}, "apiVersions": []string{"v1"}, "operations": []string{"CREATE", "UPDATE"}, "resources": []string{"jobs", "cronjobs"}, "scope": "Namespaced"},
}

// Manifests are the ValidatingWebhookConfiguration and
// MutatingWebhookConfiguration, as one YAML stream. They fail closed and
// leave out kube-system, kube-node-lease, kube-public and bulwark's own
// namespace (and any namespace labelled bulwark.dev/admission=disabled),
// so a broken webhook cannot lock the cluster out of its own recovery.
func (in Install) Manifests() ([]byte, error) {
	u := strings.TrimSuffix(in.URL, "/")
	if !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("--url %q: the API server calls webhooks over HTTPS only (https://host:port)", in.URL)
	}
	if len(in.CABundle) == 0 || !strings.Contains(string(in.CABundle), "BEGIN CERTIFICATE") {
		return nil, fmt.Errorf("no CA bundle: give the PEM of the CA that signed the server's certificate")
	}
	timeout := in.TimeoutSeconds
	if timeout == 0 {
		timeout = 10
	}
	ns := in.Namespace
	if ns == "" {
		ns = "bulwark"
	}
	failure := "Fail"
	if in.FailOpen {
		failure = "Ignore"
	}
	selector := map[string]any{"matchExpressions": []map[string]any{
		{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": []string{"kube-system", "kube-node-lease", "kube-public", ns}},
		{"key": "bulwark.dev/admission", "operator": "NotIn", "values": []string{"disabled"}},
	}}
	hook := func(name, path string, extra map[string]any) map[string]any {
		h := map[string]any{
			"name":                    name,
			"admissionReviewVersions": []string{"v1"},
			"clientConfig":            map[string]any{"url": u + path, "caBundle": base64.StdEncoding.EncodeToString(in.CABundle)},
			"rules":                   workloadRules,
			"failurePolicy":           failure,
			"sideEffects":             "NoneOnDryRun",
			"timeoutSeconds":          timeout,
			"namespaceSelector":       selector,
			"matchPolicy":             "Equivalent",
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	execRule := map[string]any{"apiGroups": []string{""}, "apiVersions": []string{"v1"}, "operations": []string{"CONNECT"}, "resources": []string{"pods/exec", "pods/attach"}, "scope": "Namespaced"}
	validating := hook("validate.admission.bulwark.dev", "/admission/validate", nil)
	validating["rules"] = append(append([]map[string]any(nil), workloadRules...), execRule)
	docs := []map[string]any{
		{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
			"metadata": map[string]any{"name": "bulwark", "labels": map[string]string{"app.kubernetes.io/managed-by": "bulwark"}},
			"webhooks": []any{hook("mutate.admission.bulwark.dev", "/admission/mutate", map[string]any{"reinvocationPolicy": "IfNeeded"})}},
		{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
			"metadata": map[string]any{"name": "bulwark", "labels": map[string]string{"app.kubernetes.io/managed-by": "bulwark"}},
			"webhooks": []any{validating}},
	}
	var out []byte
	for i, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, b...)
	}
	return out, nil
}
