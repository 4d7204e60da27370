package verdict

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/sign"
	"bulwark.dev/bulwark/internal/testenv"
)

// testRegistry is a real registry over HTTP that can be taken down.
func testRegistry(t *testing.T) (host string, down *atomic.Bool) {
	down = &atomic.Bool{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), down
}

func push(t *testing.T, host, repo string) name.Digest {
	t.Helper()
	img, _ := random.Image(256, 1)
	ref, _ := name.ParseReference(host + "/" + repo)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return ref.Context().Digest(d.String())
}

func writePolicy(t *testing.T, doc string, keys map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for n, b := range keys {
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	p := filepath.Join(dir, "policy.yaml")
	os.WriteFile(p, []byte(doc), 0o644)
	return p
}

// TestPolicyDocuments: files written for verify --policy load as policy
// documents, bad ones are refused naming the file and the problem, and a
// project pull policy is told how to become a document.
func TestPolicyDocuments(t *testing.T) {
	pub, _ := testenv.SigningKey(t)
	keys := map[string][]byte{"k.pub": pub, "junk.pub": []byte("not a key")}
	ev := &Evaluator{}
	tests := []struct {
		name, doc, want string
	}{
		{"malformed", "rules: [", "not valid YAML"},
		{"unknown key", "rules:\n- pattern: '*'\n  keys: [k.pub]\n  signers: [x]\n", "unknown field"},
		{"no rules", "rules: []\n", "no rules"},
		{"bad glob", "rules:\n- pattern: '[x'\n  keys: [k.pub]\n", "not a glob"},
		{"empty pattern", "rules:\n- keys: [k.pub]\n", "not a glob"},
		{"no keys", "rules:\n- pattern: '*'\n", "no keys"},
		{"missing key file", "rules:\n- pattern: '*'\n  keys: [gone.pub]\n", "gone.pub"},
		{"bad age", "rules:\n- pattern: '*'\n  keys: [k.pub]\n  maxAttestationAge: 3days\n", "maxAttestationAge"},
		{"a pull policy", "blockSeverity: high\n", "under rules:"},
		{"bad severity", "rules:\n- pattern: '*'\n  blockSeverity: extreme\n", "blockSeverity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.LoadDocument(writePolicy(t, tc.doc, keys))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "policy") {
				t.Fatalf("LoadDocument: %v, want an error naming the policy and %q", err, tc.want)
			}
		})
	}
	doc, err := policy.LoadDocument(writePolicy(t, "rules:\n- pattern: '*'\n  keys: [junk.pub]\n", keys))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Keys(&doc.Rules[0]); err == nil {
		t.Error("a key that is not a key was accepted")
	}
	doc, err = policy.LoadDocument(writePolicy(t, "rules:\n- pattern: 'r/*'\n  keys: [k.pub]\n- pattern: '*/*'\n  blockSeverity: high\n  unscanned: block\n", keys))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := doc.For("r/app"); !r.RequireSignature || r.BlockSeverity != "none" || r.Unscanned != "allow" {
		t.Errorf("a signature rule: %+v", r)
	}
	if r, _ := doc.For("other/app"); r.RequireSignature || r.BlockSeverity != "high" {
		t.Errorf("a vulnerability rule: %+v", r)
	}
}

// TestEvaluate: one verdict over signatures (rotation, untrusted keys,
// rules by repository), attestations (missing, too old, by a stranger),
// vulnerabilities, unscanned images, uncovered OSes and hardening checks;
// a registry outage is an error, never a refusal.
func TestEvaluate(t *testing.T) {
	host, down := testRegistry(t)
	oldPub, oldKey := testenv.SigningKey(t)
	newPub, newKey := testenv.SigningKey(t)
	_, stranger := testenv.SigningKey(t)
	doc, err := policy.LoadDocument(writePolicy(t, `rules:
- pattern: "`+host+`/shop/*"
  keys: [old.pub, new.pub]
  attestations: [slsaprovenance]
  maxAttestationAge: 24h
- pattern: "`+host+`/tools/*"
  keys: [new.pub]
- pattern: "`+host+`/scanned/*"
  blockSeverity: high
  unscanned: block
  unmatched: block
  requiredChecks: [BW-IMG-001]
`, map[string][]byte{"old.pub": oldPub, "new.pub": newPub}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ev := &Evaluator{Now: func() time.Time { return now }}
	ctx := context.Background()
	slsa := sign.PredicateTypes["slsaprovenance"]
	signed := func(repo string, s sign.Signer, attest sign.Signer, at time.Time) name.Digest {
		d := push(t, host, repo)
		if s != nil {
			if _, err := sign.Sign(ctx, d, s, nil); err != nil {
				t.Fatal(err)
			}
		}
		if attest != nil {
			if _, err := sign.Attest(ctx, d, attest, slsa, []byte(`{"metadata":{"buildFinishedOn":"`+at.Format(time.RFC3339)+`"}}`)); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	finding := match.Finding{ID: "GO-2021-0113", Severity: severity.Unknown, Fixed: []string{"0.3.7"}, Package: sbom.Package{Name: "golang.org/x/text", Version: "v0.3.5"}}
	uncovered := []match.Coverage{{Ecosystem: "Alpine:v3.10", OS: true, Status: match.NoAdvisories, Message: "no advisories for alpine 3.10.4"}}
	tests := []struct {
		name  string
		sub   Subject
		kinds []string // refusal reasons; nil: allowed
	}{
		{"signed and attested by the old key", Subject{Ref: signed("shop/a:1", oldKey, oldKey, now.Add(-time.Hour))}, nil},
		{"signed and attested by the new key", Subject{Ref: signed("shop/b:1", newKey, newKey, now.Add(-time.Hour))}, nil},
		{"unsigned", Subject{Ref: signed("shop/c:1", nil, newKey, now)}, []string{KindSignature}},
		{"attestation missing", Subject{Ref: signed("shop/d:1", newKey, nil, now)}, []string{KindAttestation}},
		{"attestation too old", Subject{Ref: signed("shop/e:1", newKey, newKey, now.Add(-48*time.Hour))}, []string{KindAttestation}},
		{"attestation by a stranger", Subject{Ref: signed("shop/f:1", newKey, stranger, now)}, []string{KindAttestation}},
		{"old key not trusted here", Subject{Ref: signed("tools/g:1", oldKey, nil, now)}, []string{KindSignature}},
		{"no attestation needed", Subject{Ref: signed("tools/h:1", newKey, nil, now)}, nil},
		{"no rule covers it", Subject{Ref: signed("other/i:1", newKey, nil, now)}, []string{KindNoRule}},
		{"unscanned", Subject{Ref: push(t, host, "scanned/j:1"), ScanState: "queued"}, []string{KindUnscanned, KindCheck}},
		{"a vulnerability counted as high", Subject{Ref: push(t, host, "scanned/k:1"), Scanned: true, Findings: []match.Finding{finding},
			Checks: []CheckResult{{ID: "BW-IMG-001", Status: "pass"}}}, []string{KindVulnerability}},
		{"an OS no advisory covers, a failing check", Subject{Ref: push(t, host, "scanned/l:1"), Scanned: true, Coverage: uncovered,
			Checks: []CheckResult{{ID: "BW-IMG-001", Status: "fail", Message: "runs as root"}}}, []string{KindUnmatched, KindCheck}},
		{"clean", Subject{Ref: push(t, host, "scanned/m:1"), Scanned: true, Checks: []CheckResult{{ID: "BW-IMG-001", Status: "pass"}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.sub.Name = tc.sub.Ref.String()
			rule, _ := doc.For(tc.sub.Ref.Context().Name())
			d, err := ev.Evaluate(ctx, tc.sub, rule)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range d.Reasons {
				kinds = append(kinds, r.Kind)
				if r.Message == "" || !strings.Contains(r.Message, tc.sub.Name) && r.Kind != KindSignature && r.Kind != KindAttestation {
					t.Errorf("reason without a message naming the image: %+v", r)
				}
			}
			if diff := cmp.Diff(tc.kinds, kinds); diff != "" || d.Allowed != (tc.kinds == nil) {
				t.Errorf("allowed %v, reasons (-want +got):\n%s", d.Allowed, diff)
			}
		})
	}
	// An outage is not a verdict.
	d := signed("shop/n:1", newKey, newKey, now)
	down.Store(true)
	rule, _ := doc.For(d.Context().Name())
	if dec, err := ev.Evaluate(ctx, Subject{Name: d.String(), Ref: d}, rule); err == nil {
		t.Errorf("during an outage: %+v, want an error", dec)
	}
	down.Store(false)
	if dec, err := ev.Evaluate(ctx, Subject{Name: d.String(), Ref: d}, rule); err != nil || !dec.Allowed {
		t.Errorf("after the outage: %+v %v", dec, err)
	}
}
