package sign

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
)

// newReferrersRegistry is a registry with the OCI 1.1 referrers API;
// newRegistry has none, so writers fall back to the referrers tag schema.
// apiCalls counts requests to the referrers endpoint.
func newReferrersRegistry(t *testing.T) (*fixture, *atomic.Int64) {
	return serveRegistry(t, func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }, registry.WithReferrersSupport(true))
}

func TestBundleSignVerify(t *testing.T) {
	withAPI, calls := newReferrersRegistry(t)
	for _, tc := range []struct {
		name string
		f    *fixture
	}{{"referrers API", withAPI}, {"referrers tag schema", newRegistry(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			alice, aliceKey := keyPair(t)
			bob, bobKey := keyPair(t)
			_, carol := keyPair(t)
			ref := f.push(t, "app/web:1")
			d, err := SignBundle(f.ctx, ref, alice, map[string]any{"ci": "run-7"})
			if err != nil {
				t.Fatal(err)
			}
			v, err := Verify(f.ctx, ref, []signature.Verifier{carol, aliceKey})
			if err != nil || !v.Bundle || v.Key != 1 || v.Digest != d {
				t.Fatalf("verify: %+v %v", v, err)
			}
			// A second signer appends; both verify.
			if _, err := SignBundle(f.ctx, d, bob, nil); err != nil {
				t.Fatal(err)
			}
			for _, k := range []signature.Verifier{aliceKey, bobKey} {
				if _, err := Verify(f.ctx, d, []signature.Verifier{k}); err != nil {
					t.Errorf("after a second signer: %v", err)
				}
			}
			if _, err := Verify(f.ctx, ref, []signature.Verifier{carol}); reason(err) != UntrustedKey {
				t.Errorf("untrusted key: %v", err)
			}
			// The signed statement is cosign's: sign/v1 about the digest,
			// the annotations (and the tag signed through) on the subject.
			refs, err := referrers(d)
			if err != nil || len(refs) != 2 {
				t.Fatalf("referrers: %d %v", len(refs), err)
			}
			img, _ := remote.Image(d.Context().Digest(refs[0].Digest.String()))
			body, err := readBundle(img)
			if err != nil {
				t.Fatal(err)
			}
			var b struct {
				MediaType    string `json:"mediaType"`
				DSSEEnvelope struct {
					Payload string `json:"payload"`
				} `json:"dsseEnvelope"`
			}
			if err := json.Unmarshal(body, &b); err != nil || b.MediaType != BundleMediaType {
				t.Fatalf("bundle %s: %v", body, err)
			}
			// A copied bundle: a trusted bundle for web:1 made a referrer
			// of another image names the wrong digest.
			other := f.push(t, "app/web:2")
			od, _ := Resolve(other)
			copyReferrer(t, img, od)
			if _, err := Verify(f.ctx, other, []signature.Verifier{aliceKey, bobKey}); reason(err) != DigestMismatch {
				t.Errorf("copied bundle: %v, want %s", err, DigestMismatch)
			}
		})
	}
	if calls.Load() == 0 {
		t.Error("the referrers API was never called")
	}
}

// copyReferrer re-pushes a referrer manifest with its subject changed to
// d, keeping its layers: what an attacker copying a bundle would do.
func copyReferrer(t *testing.T, img v1.Image, d name.Digest) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(d)
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	layers, _ := img.Layers()
	for _, l := range layers {
		if err := remote.WriteLayer(d.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(m)
	h, _, _ := v1.SHA256(strings.NewReader(string(raw)))
	if err := remote.Put(d.Context().Digest(h.String()), rawManifest{raw, m.MediaType}); err != nil {
		t.Fatal(err)
	}
}

func TestBundleAttestation(t *testing.T) {
	f, _ := newReferrersRegistry(t)
	s, k := keyPair(t)
	_, other := keyPair(t)
	ref := f.push(t, "app/api:1")
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	vex := []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","timestamp":"2026-11-30T00:00:00Z","statements":[]}`)
	if _, err := AttestBundle(f.ctx, ref, s, PredicateTypes["openvex"], vex); err != nil {
		t.Fatal(err)
	}
	a, err := VerifyAttestation(f.ctx, ref, []signature.Verifier{k}, PredicateTypes["openvex"], 48*time.Hour, now)
	if err != nil || !a.Bundle || a.Statement.PredicateType != PredicateTypes["openvex"] {
		t.Fatalf("verify: %+v %v", a, err)
	}
	tests := []struct {
		name   string
		keys   []signature.Verifier
		pt     string
		maxAge time.Duration
		want   Reason
	}{
		{"untrusted key", []signature.Verifier{other}, PredicateTypes["openvex"], 0, UntrustedKey},
		{"stale", []signature.Verifier{k}, PredicateTypes["openvex"], time.Hour, Stale},
		{"other type", []signature.Verifier{k}, PredicateTypes["cyclonedx"], 0, NoSignature},
	}
	for _, tc := range tests {
		_, err := VerifyAttestation(f.ctx, ref, tc.keys, tc.pt, tc.maxAge, now)
		if reason(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	// The bundle signature is not a cosign image signature.
	if _, err := Verify(f.ctx, ref, []signature.Verifier{k}); reason(err) != NoSignature {
		t.Errorf("an attestation taken as a signature: %v", err)
	}
}

// TestBundleTampered alters a pushed bundle's payload: sigstore-go refuses
// the signature and the reason says the key did not verify it.
func TestBundleTampered(t *testing.T) {
	f, _ := newReferrersRegistry(t)
	s, k := keyPair(t)
	ref := f.push(t, "app/t:1")
	d, err := SignBundle(f.ctx, ref, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := referrers(d)
	img, _ := remote.Image(d.Context().Digest(refs[0].Digest.String()))
	body, _ := readBundle(img)
	h, _ := v1.NewHash(d.DigestStr())
	for name, mutate := range map[string]func(string) string{
		"payload":   func(s string) string { return strings.Replace(s, `"payload":"`, `"payload":"eyJ`, 1) },
		"not json":  func(s string) string { return s[:len(s)/2] },
		"no bundle": func(string) string { return `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}` },
	} {
		_, _, r, msg := verifyBundle([]byte(mutate(string(body))), []signature.Verifier{k}, h, CosignSignPredicate)
		if r != UntrustedKey && r != TamperedPayload {
			t.Errorf("%s: reason %q (%s)", name, r, msg)
		}
	}
	if st, _, r, _ := verifyBundle(body, []signature.Verifier{k}, h, CosignSignPredicate); st == nil || r != "" {
		t.Errorf("untouched bundle: %s", r)
	}
}

// FuzzVerifyBundle feeds arbitrary bytes to the bundle reader.
func FuzzVerifyBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{}`))
	_, k := keyPair(f)
	h, _ := v1.NewHash("sha256:" + strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, _, r, _ := verifyBundle(b, []signature.Verifier{k}, h, CosignSignPredicate)
		if st != nil && r == "" {
			t.Fatalf("a random bundle verified: %s", b)
		}
	})
}
