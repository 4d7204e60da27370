package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/sign"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixture is a real registry (go-containerregistry's, over HTTP) holding
// a signed and an unsigned image, a policy that requires the signature,
// and a webhook recording into a real audit trail (SQLite).
type fixture struct {
	wh       *Webhook
	host     string
	store    *store.Store
	signed   string // digest of REGISTRY/signed/app:v1
	unsigned string
}

const testPolicy = `
rules:
  - pattern: "REGISTRY/signed/*"
    keys: ["PUBKEY"]
admission:
  namespaces:
    - {namespace: "dev-*", mode: warn}
    - {namespace: sandbox, mode: audit}
  exemptions:
    - {namespace: kube-system, reason: "cluster components, managed by the platform team"}
    - {namespace: shop, check: BW-K8S-001, reason: "the legacy shop ran as root until its migration", expires: "2020-01-01"}
  mutate:
    defaults: ["team-*"]
  exec:
    deny: [prod]
`

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	pub, signer := testenv.SigningKey(t)
	ctx := context.Background()
	f := &fixture{host: host}
	for _, im := range []struct {
		repo, body string
		sign       bool
		digest     *string
	}{{"signed/app", "app", true, &f.signed}, {"signed/unsigned", "other", false, &f.unsigned}} {
		img := testenv.OneLayerImage(t, testenv.TarFile{Name: "app", Mode: 0o755, Body: im.body})
		ref, _ := name.ParseReference(host + "/" + im.repo + ":v1")
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		*im.digest = d.String()
		if im.sign {
			if _, err := sign.Sign(ctx, ref, signer, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	pol := strings.ReplaceAll(testPolicy, "REGISTRY", host)
	pol = strings.ReplaceAll(pol, `"PUBKEY"`, jsonString(string(pub)))
	doc, err := policy.ParseDocument([]byte(pol), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(doc.Admission)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := CheckList()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if f.store, err = store.Open(ctx, filepath.Join(dir, "audit.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	log, err := audit.Open(ctx, f.store, filepath.Join(dir, "audit.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	f.wh = &Webhook{Config: cfg, Checks: cs, Images: &RegistryImages{Doc: doc, Eval: &verdict.Evaluator{}, TTL: time.Minute}, Audit: log,
		Now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }}
	return f
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// view is a response as a reader checks it: the patch decoded.
type view struct {
	Allowed  bool            `json:"allowed"`
	Code     int32           `json:"code,omitempty"`
	Message  string          `json:"message,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Patch    json.RawMessage `json:"patch,omitempty"`
}

func (f *fixture) review(t testing.TB, body []byte, mutate bool) (*admissionv1.AdmissionReview, view) {
	t.Helper()
	out, err := f.wh.Review(context.Background(), body, mutate)
	if err != nil {
		t.Fatalf("Review: %v", err)
	}
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &rev); err != nil {
		t.Fatalf("the answer is not an AdmissionReview: %v\n%s", err, out)
	}
	if rev.APIVersion != "admission.k8s.io/v1" || rev.Kind != "AdmissionReview" || rev.Response == nil {
		t.Fatalf("malformed answer: %s", out)
	}
	r := rev.Response
	v := view{Allowed: r.Allowed, Warnings: r.Warnings}
	if r.Result != nil {
		v.Code, v.Message = r.Result.Code, r.Result.Message
	}
	if len(r.Patch) > 0 {
		if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Errorf("a patch without patchType JSONPatch")
		}
		v.Patch = r.Patch
	}
	return &rev, v
}

// TestReviewsGolden answers every request in testdata/reviews, validating
// and mutating, and compares the answers with the golden files.
func TestReviewsGolden(t *testing.T) {
	f := newFixture(t)
	files, _ := filepath.Glob("testdata/reviews/*.json")
	if len(files) < 10 {
		t.Fatalf("only %d review requests", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			body := bytes.ReplaceAll(b, []byte("REGISTRY"), []byte(f.host))
			var req admissionv1.AdmissionReview
			json.Unmarshal(body, &req)
			got := map[string]view{}
			for _, mutate := range []bool{false, true} {
				rev, v := f.review(t, body, mutate)
				if rev.Response.UID != req.Request.UID {
					t.Errorf("uid %q, want the request's %q", rev.Response.UID, req.Request.UID)
				}
				got[map[bool]string{false: "validate", true: "mutate"}[mutate]] = v
			}
			out, _ := json.MarshalIndent(got, "", "  ")
			s := strings.NewReplacer(f.host, "REGISTRY", f.signed, "DIGEST_SIGNED", f.unsigned, "DIGEST_UNSIGNED",
				strings.Replace(f.signed, ":", "-", 1), "DIGEST_SIGNED", strings.Replace(f.unsigned, ":", "-", 1), "DIGEST_UNSIGNED").Replace(string(out)) + "\n"
			golden := filepath.Join("testdata", "reviews", name+".golden")
			if *update {
				os.WriteFile(golden, []byte(s), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/admission -update writes it)", err)
			}
			if d := cmp.Diff(string(want), s); d != "" {
				t.Errorf("%s (-golden +got):\n%s", golden, d)
			}
		})
	}
}

// TestDecisionsAreAudited: every decision but a dry run is in the audit
// trail with the user, the object, the mode and the reasons.
func TestDecisionsAreAudited(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"pod-privileged", "pod-dryrun", "pod-warn", "pod-compliant"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "reviews", n+".json"))
		f.review(t, bytes.ReplaceAll(b, []byte("REGISTRY"), []byte(f.host)), false)
	}
	type rec struct{ Actor, Action, Object, Outcome, Mode string }
	var got []rec
	var privilegedReasons string
	err := f.store.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		if r.Action != audit.ActionAdmission.String() {
			return nil
		}
		var d struct {
			Mode    string            `json:"mode"`
			Reasons []json.RawMessage `json:"reasons"`
		}
		json.Unmarshal([]byte(r.Detail), &d)
		got = append(got, rec{r.Actor, r.Action, r.Object, r.Outcome, d.Mode})
		if r.Object == "Pod shop/root" {
			privilegedReasons = r.Detail
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []rec{
		{"alice@example.com", "admission.review", "Pod shop/root", "denied", "enforce"},
		{"alice@example.com", "admission.review", "Pod dev-alice/root", "success", "warn"},
		{"alice@example.com", "admission.review", "Pod shop/web", "success", "enforce"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("audit records (-want +got):\n%s", d)
	}
	if !strings.Contains(privilegedReasons, "BW-K8S-004") {
		t.Errorf("the denial's record does not name the failing check: %s", privilegedReasons)
	}
}

// TestNotAReview: what is not an AdmissionReview gets HTTP 400 with the
// problem; a review with an unreadable object gets a refusal.
func TestNotAReview(t *testing.T) {
	f := newFixture(t)
	h := f.wh.Handler(false)
	for body, want := range map[string]int{
		`{`:  http.StatusBadRequest,
		`[]`: http.StatusBadRequest,
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`:                                                    http.StatusBadRequest,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`:                                                                               http.StatusBadRequest,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"CREATE","object":[1]}}`: http.StatusOK,
		strings.Repeat(" ", MaxRequest+1): http.StatusRequestEntityTooLarge,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admission/validate", strings.NewReader(body)))
		if rec.Code != want {
			t.Errorf("%.60q: HTTP %d, want %d: %s", body, rec.Code, want, rec.Body)
		}
		if want == http.StatusOK && !strings.Contains(rec.Body.String(), `"allowed":false`) {
			t.Errorf("an unreadable object was not refused: %s", rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admission/validate", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", rec.Code)
	}
}

// TestRegistryDownFailsClosed: when the registry does not answer, the
// image cannot be judged and the pod is denied, and nothing is cached.
func TestRegistryDownFailsClosed(t *testing.T) {
	f := newFixture(t)
	b, _ := os.ReadFile(filepath.Join("testdata", "reviews", "pod-compliant.json"))
	body := bytes.ReplaceAll(b, []byte("REGISTRY"), []byte("127.0.0.1:1"))
	_, v := f.review(t, body, false)
	if v.Allowed || !strings.Contains(v.Message, "could not be judged") {
		t.Errorf("with the registry down: %+v", v)
	}
}

func TestParseConfig(t *testing.T) {
	for in, want := range map[string]string{
		`{"mode":"enforcing"}`: `mode "enforcing"`,
		`{"modes":"warn"}`:     `unknown field "modes"`,
		`{"namespaces":[{"namespace":"[","mode":"warn"}]}`:             `not a namespace glob`,
		`{"exemptions":[{"namespace":"a"}]}`:                           `reason is required`,
		`{"exemptions":[{"reason":"x"}]}`:                              `names no namespace, image or check`,
		`{"exemptions":[{"check":"X","reason":"r","expires":"soon"}]}`: `expires "soon"`,
		`{"checkSeverity":"severe"}`:                                   `checkSeverity`,
		`{"timeoutSeconds":45}`:                                        `timeoutSeconds 45`,
	} {
		_, err := ParseConfig([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", in, err, want)
		}
	}
	c, err := ParseConfig(nil)
	if err != nil || c.Mode != Enforce || c.TimeoutSeconds != 10 || !c.DigestsOn() {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func FuzzReview(f *testing.F) {
	files, _ := filepath.Glob("testdata/reviews/*.json")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"CronJob"},"operation":"CREATE","object":{"kind":"CronJob","spec":{"jobTemplate":null}}}}`))
	cfg, _ := ParseConfig([]byte(`{"mutate":{"defaults":["*"]},"exec":{"deny":["*"]}}`))
	cs, _ := CheckList()
	wh := &Webhook{Config: cfg, Checks: cs, Images: &RegistryImages{Doc: &policy.Document{}, Eval: &verdict.Evaluator{},
		Remote: []remote.Option{remote.WithTransport(refuseAll{})}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mutate := range []bool{false, true} {
			out, err := wh.Review(context.Background(), b, mutate)
			if err != nil {
				continue
			}
			var rev admissionv1.AdmissionReview
			if err := json.Unmarshal(out, &rev); err != nil || rev.Response == nil {
				t.Fatalf("malformed answer %s: %v", out, err)
			}
		}
	})
}

// refuseAll is a transport for the fuzzer: no network, every image
// unknown (at once: errors would be retried).
type refuseAll struct{}

func (refuseAll) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}
