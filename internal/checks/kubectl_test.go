package checks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/k8s"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestReadLikeKubectl: an object is judged as the cluster would read it
// (YAML 1.1 booleans, case-sensitive keys), and what the cluster would
// refuse, or bulwark cannot read, fails BW-INP-001 instead of vanishing.
func TestReadLikeKubectl(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		// want maps "Kind namespace/name" to the failing check IDs it must
		// include; absent maps must not fail.
		want map[string][]string
		// not are check IDs that must not fail on any object.
		not []string
	}{
		{"privileged-yes.yaml", map[string][]string{"Pod shop/yes-pod": {"BW-K8S-003", "BW-K8S-004"}}, []string{"BW-INP-001"}},
		{"quoted-numbers.yaml", map[string][]string{"Pod shop/quoted-uid": {"BW-INP-001"}, "Pod shop/quoted-port": {"BW-INP-001"}}, nil},
		{"case-shadow.yaml", map[string][]string{"Pod shadow": {"BW-K8S-004"}}, []string{"BW-INP-001"}},
		{"compose.yaml", map[string][]string{"ComposeFile " + filepath.Join("testdata", "kubectl", "compose.yaml"): {"BW-CMP-001", "BW-CMP-004", "BW-CMP-005"}}, []string{"BW-INP-001", "BW-CMP-002"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			objs, _ := Load([]string{filepath.Join("testdata", "kubectl", tt.file)}, nil)
			got := map[string][]string{}
			for _, r := range mustRun(t, all, objs, DefaultEnv(), nil) {
				if r.Status != "fail" {
					continue
				}
				for _, id := range tt.not {
					if r.CheckID == id {
						t.Errorf("%s fails %s: %s", ref(r.Object), id, r.Message)
					}
				}
				if want, ok := tt.want[ref(r.Object)]; ok && slices.Contains(want, r.CheckID) && !slices.Contains(got[ref(r.Object)], r.CheckID) {
					got[ref(r.Object)] = append(got[ref(r.Object)], r.CheckID)
				}
				if r.CheckID == "BW-INP-001" && (r.Line == 0 || !strings.Contains(r.Message, "refuses")) {
					t.Errorf("BW-INP-001 without line or reason: %+v", r)
				}
			}
			for k := range got {
				sort.Strings(got[k])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("failing checks (-want +got):\n%s", diff)
			}
		})
	}
}

func ref(o ObjectRef) string {
	return (&Object{Kind: o.Kind, Name: o.Name, Namespace: o.Namespace}).Ref()
}

// TestUnreadableInputs: every way an input can fail to load is a located
// BW-INP-001 failure, and the rest of the stream is still checked.
func TestUnreadableInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tmpl := write("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    {{- include \"x\" . | nindent 4 }}\n")
	broken := write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ok\nspec:\n  containers: []\n---\nkind: [unclosed\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: after\nspec:\n  containers:\n  - name: c\n    image: x\n    securityContext: {privileged: true}\n")
	df := write("Dockerfile", "FROM\n")
	objs, errs := Load([]string{tmpl, broken, df, filepath.Join(dir, "missing.yaml")}, nil)
	if len(errs) != 4 {
		t.Errorf("load errors %v, want 4", errs)
	}
	all, _ := All()
	type loc struct {
		file string
		line int
	}
	var unreadable []loc
	privileged := false
	for _, r := range mustRun(t, all, objs, DefaultEnv(), nil) {
		if r.CheckID == "BW-INP-001" && r.Status == "fail" {
			unreadable = append(unreadable, loc{filepath.Base(r.Object.File), r.Line})
			if strings.Contains(r.Message, "map[") || strings.Contains(r.Message, "interface {}") {
				t.Errorf("Go internals in %q", r.Message)
			}
			if r.Object.File == tmpl && !strings.Contains(r.Message, "helm template") {
				t.Errorf("template message %q does not say to render it", r.Message)
			}
		}
		if r.CheckID == "BW-K8S-004" && r.Status == "fail" && r.Object.Name == "after" {
			privileged = true
		}
	}
	want := []loc{{"Dockerfile", 1}, {"broken.yaml", 8}, {"deploy.yaml", 5}, {"missing.yaml", 1}}
	sort.Slice(unreadable, func(i, j int) bool { return unreadable[i].file < unreadable[j].file })
	if diff := cmp.Diff(want, unreadable, cmp.AllowUnexported(loc{})); diff != "" {
		t.Errorf("unreadable inputs (-want +got):\n%s", diff)
	}
	if !privileged {
		t.Error("the document after a broken one was not checked")
	}
}

// TestBuildToolsRemovedInTheSameRun: official images install compilers
// and remove them in the same RUN (apk add --virtual ... apk del, the
// apt-mark auto idiom with purge --auto-remove, apt-get purge of the
// tool): nothing of them reaches a layer, so BW-DF-003 passes them; a
// tool that stays, or a removal in a later RUN (the tool is in the
// earlier layer), still fails.
func TestBuildToolsRemovedInTheSameRun(t *testing.T) {
	all, _ := All()
	var df003 []*Check
	for _, c := range all {
		if c.ID == "BW-DF-003" {
			df003 = append(df003, c)
		}
	}
	verdict := func(name string, b []byte) string {
		objs, errs := Parse(name, b)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", name, errs)
		}
		for _, r := range mustRun(t, df003, objs, DefaultEnv(), nil) {
			if r.Status == "fail" {
				return "fail: " + r.Message
			}
		}
		return "pass"
	}
	for _, f := range []string{
		"docker-library__redis/7.0/alpine/Dockerfile",    // apk add --virtual .build-deps ... apk del .build-deps
		"docker-library__memcached/1/alpine/Dockerfile",  // the same, with --no-network
		"docker-library__memcached/1/debian/Dockerfile",  // apt-mark auto '.*' ... apt-get purge --auto-remove
		"docker-library__httpd/2.4/Dockerfile",           // the same
		"nginx__docker-nginx/mainline/debian/Dockerfile", // apt-mark showmanual | xargs apt-mark auto
	} {
		b, err := os.ReadFile(filepath.Join(testenv.CorpusPath(t, "dockerfiles"), f))
		if err != nil {
			t.Fatal(err)
		}
		if got := verdict("Dockerfile", b); got != "pass" {
			t.Errorf("%s: %s", f, got)
		}
	}
	for src, want := range map[string]string{
		"FROM alpine:3.20\nRUN apk add --no-cache gcc musl-dev && make\n":                                                "gcc",
		"FROM alpine:3.20\nRUN apk add --virtual .b gcc make && apk del gcc\n":                                           "make",
		"FROM alpine:3.20\nRUN apk add --virtual .b gcc && apk del .b\n":                                                 "",
		"FROM debian:12\nRUN apt-get install -y gcc\nRUN apt-get purge -y gcc\n":                                         "gcc",
		"FROM debian:12\nRUN apt-get install -y gcc libc6-dev && make && apt-get purge -y --auto-remove gcc libc6-dev\n": "",
		"FROM debian:12\nRUN apt-get install -y gcc && apk del gcc\n":                                                    "gcc",
	} {
		got := verdict("Dockerfile", []byte(src))
		if want == "" && got != "pass" || want != "" && !strings.Contains(got, `"`+want+`"`) {
			t.Errorf("%q: %s, want %q", src, got, want)
		}
	}
}

// TestAdmissionPathAgrees: an object that arrives as JSON (an admission
// request: k8s.FromJSON, then FromK8s) gets the same verdicts as the
// same object read from its manifest, on every workload of a corpus
// chart; only lines differ (JSON has none).
func TestAdmissionPathAgrees(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := Load([]string{testenv.CorpusPath(t, "k8s", "helm-rendered", "microservices-demo.default-values.yaml")}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	verdicts := func(rs []Result) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.CheckID+" "+r.Status+" "+r.Message)
		}
		sort.Strings(out)
		return out
	}
	compared := 0
	for _, o := range objs {
		if !isWorkload(o) {
			continue
		}
		b, err := json.Marshal(o.raw)
		if err != nil {
			t.Fatal(err)
		}
		ko, err := k8s.FromJSON("request", b)
		if err != nil {
			t.Fatalf("%s: %v", o.Ref(), err)
		}
		fromYAML := mustRun(t, all, []*Object{o}, DefaultEnv(), nil)
		fromJSON := mustRun(t, all, []*Object{FromK8s(ko)}, DefaultEnv(), nil)
		if diff := cmp.Diff(verdicts(fromYAML), verdicts(fromJSON)); diff != "" {
			t.Errorf("%s (-manifest +admission):\n%s", o.Ref(), diff)
		}
		compared++
	}
	if compared < 10 {
		t.Errorf("only %d workloads compared", compared)
	}
}
