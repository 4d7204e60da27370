package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	k8syaml "sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/testenv"
)

func isManifestName(p string) bool {
	l := strings.ToLower(p)
	return strings.HasSuffix(l, ".yaml") || strings.HasSuffix(l, ".yml") || strings.HasSuffix(l, ".json")
}

const manifests = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {istio-injection: enabled}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      labels: {app: web}
      annotations: {sidecar.istio.io/inject: "true"}
    spec:
      initContainers:
      - name: init
        image: busybox
      containers:
      - name: app
        image: nginx
        securityContext:
          privileged: yes
      ephemeralContainers:
      - name: debug
        image: busybox
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: http
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: ebs.csi.aws.com
parameters: {encrypted: "true"}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: STRICT}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: v1
  kind: Pod
  metadata: {name: p}
  spec:
    containers:
    - name: c
      image: x
      ports:
      - containerPort: "80"
---
replicas: 3
`

// TestDecodeTypedViews: one stream of every kind the analyses use gives
// each its typed view, the pod template with every container and its
// line, the List's items, and an error (with line and identity) for
// the Pod the API server would refuse; the values document is skipped.
func TestDecodeTypedViews(t *testing.T) {
	d := Decode("app.yaml", []byte(manifests))
	type summary struct {
		Ref, APIVersion string
		Line            int
		Containers      []string
		Typed           string
	}
	var got []summary
	for _, o := range d.Objects {
		s := summary{Ref: o.Kind + " " + o.Namespace + "/" + o.Name, APIVersion: o.APIVersion, Line: o.Line}
		if o.Pod != nil {
			for _, c := range o.Pod.Containers {
				s.Containers = append(s.Containers, c.Name+"@"+strconv.Itoa(c.Line)+map[bool]string{true: " init"}[c.Init]+map[bool]string{true: " ephemeral"}[c.Ephemeral])
			}
		}
		switch {
		case o.Service != nil:
			s.Typed = string(o.Service.Type) + " " + o.Service.Ports[0].TargetPort.String()
		case o.NetworkPolicy != nil:
			s.Typed = strings.Join([]string{string(o.NetworkPolicy.PolicyTypes[0]), string(o.NetworkPolicy.PolicyTypes[1])}, ",")
		case o.StorageClass != nil:
			s.Typed = o.StorageClass.Provisioner + " encrypted=" + o.StorageClass.Parameters["encrypted"]
		case o.PeerAuthentication != nil:
			s.Typed = o.PeerAuthentication.Mode() + map[bool]string{true: " namespace-wide"}[o.PeerAuthentication.NamespaceWide()]
		}
		got = append(got, s)
	}
	want := []summary{
		{Ref: "Namespace /shop", APIVersion: "v1", Line: 1},
		{Ref: "Deployment shop/web", APIVersion: "apps/v1", Line: 7, Containers: []string{"init@17 init", "app@20", "debug@25 ephemeral"}},
		{Ref: "Service shop/web", APIVersion: "v1", Line: 28, Typed: "NodePort http"},
		{Ref: "NetworkPolicy shop/deny", APIVersion: "networking.k8s.io/v1", Line: 38, Typed: "Ingress,Egress"},
		{Ref: "StorageClass /fast", APIVersion: "storage.k8s.io/v1", Line: 45, Typed: "ebs.csi.aws.com encrypted=true"},
		{Ref: "PeerAuthentication shop/default", APIVersion: "security.istio.io/v1", Line: 51, Typed: "STRICT namespace-wide"},
		{Ref: "ConfigMap /a", APIVersion: "v1", Line: 60},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	dep := d.Objects[1]
	if sc := dep.Pod.Containers[1].SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Errorf("privileged: yes is not privileged: %+v", sc)
	}
	if diff := cmp.Diff(map[string]string{"app": "web"}, dep.Pod.Labels); diff != "" {
		t.Errorf("pod labels: %s", diff)
	}
	if len(d.Errors) != 1 {
		t.Fatalf("errors: %+v", d.Errors)
	}
	e := d.Errors[0]
	if e.Kind != "Pod" || e.Name != "p" || e.Line != 71 || !strings.Contains(e.Err, "spec.containers.ports.containerPort: a string where Kubernetes wants an integer") {
		t.Errorf("error = %+v", e)
	}
	if d.Compose {
		t.Error("a manifest stream read as compose")
	}
}

func TestDecodeProblems(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Error
		compose  bool
	}{
		{name: "broken document among good ones", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
			want: []Error{{File: "f.yaml", Line: 5, Err: "not valid YAML: did not find expected node content"}}},
		{name: "template stops at the first syntax error", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n---\nkind: [\n---\nkind: [\n",
			want: []Error{
				{File: "f.yaml", Line: 1, Kind: "ConfigMap", Err: "not valid YAML (a mapping key is itself a mapping or list): this looks like a Helm or Go template; render it first (helm template CHART | bulwark check -)"},
				{File: "f.yaml", Line: 6, Err: "not valid YAML: did not find expected node content"}, // and nothing after it
			}},
		{name: "service with a string port", in: "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ns1}\nspec:\n  ports:\n  - port: \"80\"\n",
			want: []Error{{File: "f.yaml", Line: 6, Kind: "Service", Name: "s", Namespace: "ns1", Err: "spec.ports.port: a string where Kubernetes wants an integer; the API server refuses this object, so it was not checked"}}},
		// YAML 1.1 reads y and n as booleans: kubectl refuses the object
		// rather than applying it to the default namespace.
		{name: "namespace y is a boolean", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: y\n",
			want: []Error{{File: "f.yaml", Line: 5, Kind: "ConfigMap", Name: "c", Namespace: "y", Err: "metadata.namespace: a bool where Kubernetes wants a string; the API server refuses this object, so it was not checked"}}},
		{name: "label value n is a boolean", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {enabled: n}\nspec: {containers: [{name: c, image: x}]}\n",
			want: []Error{{File: "f.yaml", Line: 5, Kind: "Pod", Name: "p", Err: "metadata.labels.enabled: a bool where Kubernetes wants a string; the API server refuses this object, so it was not checked"}}},
		{name: "compose", in: "services:\n  web:\n    image: nginx\n", compose: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decode("f.yaml", []byte(tc.in))
			if diff := cmp.Diff(tc.want, d.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if d.Compose != tc.compose {
				t.Errorf("compose = %v", d.Compose)
			}
		})
	}
}

func TestFromJSON(t *testing.T) {
	o, err := FromJSON("request", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"c","image":"x","securityContext":{"runAsUser":0}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Pod == nil || len(o.Pod.Containers) != 1 || *o.Pod.Containers[0].SecurityContext.RunAsUser != 0 || o.Node != nil || o.Line != 1 {
		t.Errorf("object = %+v", o)
	}
	for _, bad := range []string{`null`, `[]`, `{"kind":"Pod","spec":{"containers":"x"}}`, `{"metadata":{}}`, `{"kind":"Pod",`} {
		if _, err := FromJSON("request", []byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "request: ") {
			t.Errorf("FromJSON(%s) = %v, want an error naming the input", bad, err)
		}
	}
}

// TestDecodeCorpusComplete: on every corpus manifest, the objects and
// errors Decode returns account for exactly the documents with a kind
// and an apiVersion that apimachinery's own reader and sigs.k8s.io/yaml
// find (List items counted one by one), and every workload the
// reference decodes has its pod template.
func TestDecodeCorpusComplete(t *testing.T) {
	files, objects, workloads := 0, 0, 0
	filepath.WalkDir(testenv.CorpusPath(t, "k8s"), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !isManifestName(p) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, wantWorkloads, ok := referenceCount(b)
		if !ok {
			return nil // the reference cannot read it either; the error tests cover this
		}
		files++
		d := Decode(p, b)
		if d.Compose {
			return nil
		}
		got, gotWorkloads := len(d.Objects)+len(d.Errors), 0
		for _, o := range d.Objects {
			if o.Pod != nil {
				gotWorkloads++
			}
		}
		objects += got
		workloads += gotWorkloads
		if got != want {
			t.Errorf("%s: %d objects and errors, the reference reader finds %d", p, got, want)
		}
		if gotWorkloads+len(d.Errors) < wantWorkloads {
			t.Errorf("%s: %d workloads with pod templates, the reference finds %d", p, gotWorkloads, wantWorkloads)
		}
		return nil
	})
	t.Logf("%d files, %d objects, %d workloads", files, objects, workloads)
	if files < 500 || workloads < 300 {
		t.Errorf("only %d files and %d workloads read: is the corpus there?", files, workloads)
	}
}

// referenceCount counts objects as kubectl would find them, with
// apimachinery's document reader and sigs.k8s.io/yaml, independently of
// Decode's splitter and fast path.
func referenceCount(b []byte) (objects, workloads int, ok bool) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return objects, workloads, true
		}
		if err != nil {
			return 0, 0, false
		}
		var m map[string]any
		if err := k8syaml.Unmarshal(doc, &m); err != nil {
			return 0, 0, false
		}
		count := func(m map[string]any) {
			kind, _ := m["kind"].(string)
			if kind == "" || m["apiVersion"] == nil {
				return
			}
			objects++
			if spec, ok := Dig(m, PodSpecPaths[kind]...).(map[string]any); ok && PodSpecPaths[kind] != nil && spec != nil {
				workloads++
			}
		}
		if m["services"] != nil && m["kind"] == nil {
			return 0, 0, false // compose
		}
		if kind, _ := m["kind"].(string); strings.HasSuffix(kind, "List") && m["items"] != nil {
			items, _ := m["items"].([]any)
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					count(im)
				}
			}
			continue
		}
		count(m)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(manifests))
	f.Add([]byte("services:\n  a: {}\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [1, {kind: Pod, apiVersion: v1, spec: {containers: 3}}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Decode("f.yaml", b)
		for _, e := range d.Errors {
			if e.File != "f.yaml" || e.Err == "" {
				t.Errorf("error without file or message: %+v", e)
			}
		}
		for _, o := range d.Objects {
			if o.Kind == "" || o.Raw == nil || o.Line < 1 {
				t.Errorf("object without kind, body or line: %+v", o)
			}
		}
		FromJSON("f.json", b)
	})
}

// TestFastYAMLPathAgrees: on every document of the corpus's manifests and
// compose files, and on YAML 1.1 edge cases, the fast conversion gives
// exactly what kubectl's YAMLToJSON and the API server's decoder give
// (or defers to them).
func TestFastYAMLPathAgrees(t *testing.T) {
	var docs [][]byte
	for _, dir := range []string{"k8s", "compose"} {
		filepath.WalkDir(testenv.CorpusPath(t, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isManifestName(p) {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, doc := range splitDocuments(b) {
				docs = append(docs, doc.body)
			}
			return nil
		})
	}
	docs = append(docs, []byte("a: yes\nb: On\nc: n\nd: ~\ne: 0755\nf: 1_000\ng: 1.0\nh: 1.5\ni: 2026-12-01\nj: 0x1f\nk: \"yes\"\nl: !!str 12\nm: [y, N, off]\nn: 12e3\no: +12\np: -0.0\nq: 1e400\ns: .5\nyes: key\n1: key\n"),
		[]byte("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: [*b]\n"),
		[]byte("a: .inf\nb: .NaN\n"), []byte("r: 9223372036854775808\n"))
	compared := 0
	for _, doc := range docs {
		var n yaml.Node
		if yaml.Unmarshal(doc, &n) != nil || len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue
		}
		want, werr := decodeLikeKubectl(doc)
		got, gerr := valueLikeKubectl(&n)
		if errors.Is(gerr, errSlowPath) {
			continue
		}
		compared++
		if werr != nil {
			t.Errorf("the reference refuses %q (%v), the fast path gives %v", excerpt(doc), werr, got)
			continue
		}
		if diff := cmp.Diff(any(want), got); diff != "" {
			t.Errorf("%q (-reference +fast):\n%s", excerpt(doc), diff)
		}
	}
	if compared < 300 {
		t.Errorf("only %d documents compared", compared)
	}
}

func excerpt(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i > 0 && len(b) > 120 {
		return strings.TrimSpace(string(b[:min(120, len(b))]))
	}
	return string(b)
}
