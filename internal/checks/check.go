package checks

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	yamlv3 "go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/severity"
)

// Targets a check can run on.
const (
	TargetKubernetes = "kubernetes"
	TargetDockerfile = "dockerfile"
	TargetCompose    = "compose"
	// TargetKubernetesSet checks look across documents (namespaces,
	// network policies, services and the workloads they select).
	TargetKubernetesSet = "kubernetes-set"
	// TargetInput is every input, read or not: the input check fails
	// what could not be read.
	TargetInput = "input"
)

// Check is one hardening rule. Its ID is stable and never reused.
type Check struct {
	ID          string         `json:"id"`
	Title       string         `json:"title"`
	Severity    severity.Level `json:"severity"`
	Target      string         `json:"target"`
	Description string         `json:"description"`
	Remediation string         `json:"remediation"`
	// Good and Bad are example inputs (YAML, Dockerfile or compose) that
	// pass and fail the check; a test runs them all.
	Good string `json:"good"`
	Bad  string `json:"bad"`
	// References are filled from the framework data files.
	References map[string][]string `json:"references,omitempty"`

	applies func(*Object) bool
	check   func(*Env, *Object) []Failure
	// checkCtx is check for checks that can take long (Rego policies).
	checkCtx func(context.Context, *Env, *Object) []Failure
	set      func(*Env, []*Object) []SetOutcome
}

// Failure is one violation inside an object.
type Failure struct {
	Message string
	Line    int
}

// SetOutcome is the verdict of a cross-document check on one subject
// (a namespace, a service, a storage class).
type SetOutcome struct {
	Subject  *Object
	Failures []Failure
}

// Env configures checks that depend on the site.
type Env struct {
	// UntrustedLabel marks workloads that must run in a sandbox
	// ("key=value"; default bulwark.dev/untrusted=true).
	UntrustedLabel string
	// SandboxRuntimeClasses are runtimeClassName values that count as
	// sandboxed (default: gvisor, runsc, kata, kata-qemu, kata-fc).
	SandboxRuntimeClasses []string
	// EgressProxies are CIDRs, or "namespace/label=value" selectors, that
	// egress may go to; egress anywhere else fails the egress check.
	EgressProxies []string
}

// DefaultEnv is what checks assume without configuration.
func DefaultEnv() *Env {
	return &Env{
		UntrustedLabel:        "bulwark.dev/untrusted=true",
		SandboxRuntimeClasses: []string{"gvisor", "runsc", "kata", "kata-qemu", "kata-fc", "kata-clh"},
	}
}

//go:embed frameworks/*.yaml
var frameworkFiles embed.FS

// Framework is one compliance framework's mapping of checks to controls.
type Framework struct {
	Name     string              `json:"name" yaml:"name"`
	Version  string              `json:"version" yaml:"version"`
	Controls map[string][]string `json:"controls" yaml:"controls"`
	// Titles are the controls' titles, for reports (optional).
	Titles map[string]string `json:"titles,omitempty" yaml:"titles"`
	// Facts map the platform's own evidence (the audit trail, scans,
	// signatures, admission, runtime detections: internal/compliance
	// lists them) to controls, as Controls maps checks.
	Facts map[string][]string `json:"facts,omitempty" yaml:"facts"`
	file  string
}

// File is the framework's file name (nist-800-53.yaml).
func (f Framework) File() string { return f.file }

// Frameworks returns the embedded framework mappings, sorted by name.
// They are read once per process (every check run's references need
// them) and shared: callers must not change them.
func Frameworks() ([]Framework, error) {
	fws, err := frameworks()
	return slices.Clone(fws), err
}

// frameworks decodes the files with yaml.v3 directly, strict about keys:
// sigs.k8s.io/yaml's YAML-to-JSON round trip cost every command 4 ms.
var frameworks = sync.OnceValues(func() ([]Framework, error) {
	entries, err := frameworkFiles.ReadDir("frameworks")
	if err != nil {
		return nil, err
	}
	var out []Framework
	for _, e := range entries {
		b, err := frameworkFiles.ReadFile(path.Join("frameworks", e.Name()))
		if err != nil {
			return nil, err
		}
		var f Framework
		dec := yamlv3.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("framework %s: %w", e.Name(), err)
		}
		f.file = e.Name()
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
})

var withRefs = sync.OnceValues(func() ([]*Check, error) {
	fws, err := Frameworks()
	if err != nil {
		return nil, err
	}
	all := registry()
	byID := map[string]*Check{}
	for _, c := range all {
		byID[c.ID] = c
	}
	for _, f := range fws {
		for id, controls := range f.Controls {
			c, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("framework %s maps unknown check %s", f.file, id)
			}
			if c.References == nil {
				c.References = map[string][]string{}
			}
			c.References[f.Name+" "+f.Version] = controls
		}
	}
	return all, nil
})

// All returns every built-in check with its framework references.
func All() ([]*Check, error) { return withRefs() }

// ForTarget returns the built-in checks of one target (TargetImage for
// the scan pipeline, TargetKubernetes for the admission webhook).
func ForTarget(target string) ([]*Check, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var out []*Check
	for _, c := range all {
		if c.Target == target {
			out = append(out, c)
		}
	}
	return out, nil
}

// Exceptions answers whether a check is excepted for an object; the
// ignore file of the policy package implements it.
type Exceptions interface {
	CheckException(checkID, object, file string) (reason, source, expires string, ok bool)
}

// annotationExceptions reads bulwark.dev/ignore: "ID reason; ID2 reason".
func annotationExceptions(o *Object) map[string]string {
	out := map[string]string{}
	for _, ann := range []map[string]string{o.annotations, o.podMeta.annotations} {
		v := ann["bulwark.dev/ignore"]
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '\n' }) {
			id, reason, _ := strings.Cut(strings.TrimSpace(part), " ")
			if id != "" {
				out[id] = strings.TrimSpace(reason)
			}
		}
	}
	return out
}

// lazyRE compiles a check's pattern on first use: compiling them all
// at package initialisation cost every command, even `bulwark version`,
// over a millisecond of start-up.
func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
