package sign

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
)

// writePolicy writes a policy and public keys named in keys into a
// temporary directory and returns the policy path.
func writePolicy(t *testing.T, policy string, keys map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for n, b := range keys {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(p, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func publicPEM(t testing.TB) ([]byte, Signer) {
	t.Helper()
	kp, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(kp.PrivatePEM, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKeySigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return kp.PublicPEM, s
}

func TestLoadPolicyErrors(t *testing.T) {
	pub, _ := publicPEM(t)
	keys := map[string][]byte{"k.pub": pub, "junk.pub": []byte("not a key")}
	tests := []struct {
		name, policy, want string
	}{
		{"malformed", "rules: [", "verification policy"},
		{"unknown key", "rules:\n- pattern: '*'\n  keys: [k.pub]\n  signers: [x]\n", "unknown field"},
		{"no rules", "rules: []\n", "no rules"},
		{"bad glob", "rules:\n- pattern: '[x'\n  keys: [k.pub]\n", "not a glob"},
		{"empty pattern", "rules:\n- keys: [k.pub]\n", "not a glob"},
		{"no keys", "rules:\n- pattern: '*'\n", "no keys"},
		{"missing key file", "rules:\n- pattern: '*'\n  keys: [gone.pub]\n", "gone.pub"},
		{"bad key", "rules:\n- pattern: '*'\n  keys: [junk.pub]\n", "junk.pub"},
		{"bad predicate type", "rules:\n- pattern: '*'\n  keys: [k.pub]\n  attestations: [sbom]\n", `predicate type "sbom"`},
		{"bad age", "rules:\n- pattern: '*'\n  keys: [k.pub]\n  maxAttestationAge: 3days\n", "maxAttestationAge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writePolicy(t, tc.policy, keys)
			_, err := LoadPolicy(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadPolicy: %v, want an error containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "policy") {
				t.Errorf("error does not name the policy: %v", err)
			}
		})
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("a missing policy file loaded")
	}
}

// countingRegistry is a real registry that counts the requests it serves,
// to tell cache hits from registry round trips.
func countingRegistry(t *testing.T) (*fixture, *atomic.Int64) {
	return serveRegistry(t, func(*http.Request) bool { return true })
}

func TestPolicyVerifier(t *testing.T) {
	f, requests := countingRegistry(t)
	oldPub, oldKey := publicPEM(t)
	newPub, newKey := publicPEM(t)
	strangerPub, stranger := publicPEM(t)
	policy := writePolicy(t, `rules:
- pattern: "`+f.host+`/shop/*"
  keys: [old.pub, new.pub]
  attestations: [slsaprovenance]
  maxAttestationAge: 24h
- pattern: "`+f.host+`/tools/*"
  keys: [new.pub]
`, map[string][]byte{"old.pub": oldPub, "new.pub": newPub, "stranger.pub": strangerPub})
	p, err := LoadPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	provenance := func(at time.Time) []byte {
		return []byte(`{"metadata":{"buildFinishedOn":"` + at.Format(time.RFC3339) + `"}}`)
	}
	slsa := PredicateTypes["slsaprovenance"]

	digest := func(ref name.Reference) name.Digest {
		d, err := Resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	mustSign := func(ref name.Reference, s Signer) {
		if _, err := Sign(f.ctx, ref, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	mustAttest := func(ref name.Reference, s Signer, at time.Time) {
		if _, err := Attest(f.ctx, ref, s, slsa, provenance(at)); err != nil {
			t.Fatal(err)
		}
	}

	// Rotation: images signed by the old key and by the new key both pass.
	rotatedOld, rotatedNew := f.push(t, "shop/cart:1"), f.push(t, "shop/pay:1")
	mustSign(rotatedOld, oldKey)
	mustAttest(rotatedOld, oldKey, now.Add(-time.Hour))
	mustSign(rotatedNew, newKey)
	mustAttest(rotatedNew, newKey, now.Add(-time.Hour))

	noAttestation := f.push(t, "shop/noatt:1")
	mustSign(noAttestation, newKey)
	stale := f.push(t, "shop/stale:1")
	mustSign(stale, newKey)
	mustAttest(stale, newKey, now.Add(-48*time.Hour))
	foreignAttestation := f.push(t, "shop/foreign:1")
	mustSign(foreignAttestation, newKey)
	mustAttest(foreignAttestation, stranger, now)
	oldKeyOnTools := f.push(t, "tools/lint:1")
	mustSign(oldKeyOnTools, oldKey)
	toolsOK := f.push(t, "tools/fmt:1")
	mustSign(toolsOK, newKey)
	uncovered := f.push(t, "other/app:1")
	mustSign(uncovered, newKey)

	tests := []struct {
		name string
		ref  name.Reference
		want Reason // "" = allowed
	}{
		{"signed and attested by the old key", rotatedOld, ""},
		{"signed and attested by the new key", rotatedNew, ""},
		{"required attestation missing", noAttestation, NoSignature},
		{"attestation too old", stale, Stale},
		{"attestation by an untrusted key", foreignAttestation, UntrustedKey},
		{"key not trusted for this repository", oldKeyOnTools, UntrustedKey},
		{"no attestation required", toolsOK, ""},
		{"no rule covers the repository", uncovered, UntrustedKey},
	}
	v := NewVerifier(p, time.Minute)
	v.now = func() time.Time { return now }
	for _, tc := range tests {
		err := v.Check(f.ctx, digest(tc.ref))
		if tc.want == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.want != "" && reason(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}

	// A cached success costs no registry request until it expires.
	d := digest(rotatedOld)
	before := requests.Load()
	if err := v.Check(f.ctx, d); err != nil {
		t.Fatal(err)
	}
	if got := requests.Load(); got != before {
		t.Errorf("cached check made %d registry requests", got-before)
	}
	now = now.Add(2 * time.Minute)
	if err := v.Check(f.ctx, d); err != nil {
		t.Fatal(err)
	}
	if requests.Load() == before {
		t.Error("an expired cache entry was not re-verified")
	}

	// A failure is cached for less time: attesting later is seen after
	// failTTL (6s here), long before the success TTL.
	d = digest(noAttestation)
	if err := v.Check(f.ctx, d); reason(err) != NoSignature {
		t.Fatalf("before attesting: %v", err)
	}
	mustAttest(noAttestation, newKey, now)
	if err := v.Check(f.ctx, d); reason(err) != NoSignature {
		t.Errorf("within failTTL the cached failure should stand: %v", err)
	}
	now = now.Add(7 * time.Second)
	if err := v.Check(f.ctx, d); err != nil {
		t.Errorf("after failTTL the new attestation should be seen: %v", err)
	}

	// Concurrent callers (the registry and the webhook share one
	// verifier); run with -race.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := []name.Reference{rotatedNew, uncovered}[i%2]
			err := v.Check(f.ctx, digest(ref))
			if (i%2 == 0) != (err == nil) {
				t.Errorf("concurrent check %d of %s: %v", i, ref, err)
			}
		}()
	}
	wg.Wait()
}

// TestCopiedAttestation copies image A's attestation manifest to image
// B's attestation tag: the trusted statement is about A's digest.
func TestCopiedAttestation(t *testing.T) {
	f := newRegistry(t)
	s, k := keyPair(t)
	a, b := f.push(t, "app/a:1"), f.push(t, "app/a:2")
	da, err := Attest(f.ctx, a, s, PredicateTypes["custom"], []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	db, _ := Resolve(b)
	ha, _ := v1.NewHash(da.DigestStr())
	hb, _ := v1.NewHash(db.DigestStr())
	att, err := remote.Image(AttestationTag(da.Context(), ha))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(AttestationTag(db.Context(), hb), att); err != nil {
		t.Fatal(err)
	}
	keys := []signature.Verifier{k}
	if _, err := VerifyAttestation(f.ctx, b, keys, PredicateTypes["custom"], 0, time.Now()); reason(err) != DigestMismatch {
		t.Errorf("copied attestation: %v", err)
	}
	if _, err := VerifyAttestation(f.ctx, a, keys, PredicateTypes["spdx"], 0, time.Now()); reason(err) != NoSignature {
		t.Errorf("attestation of another type accepted: %v", err)
	}
	if _, err := VerifyAttestation(f.ctx, a, nil, PredicateTypes["custom"], 0, time.Now()); err == nil {
		t.Error("verification without a key succeeded")
	}
	if _, err := Attest(f.ctx, a, s, PredicateTypes["custom"], []byte(`{not json`)); err == nil {
		t.Error("a predicate that is not JSON was attested")
	}
}

func FuzzParseEnvelope(f *testing.F) {
	st := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"x","subject":[{"name":"r","digest":{"sha256":"00"}}],"predicate":{}}`
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` + base64.StdEncoding.EncodeToString([]byte(st)) + `","signatures":[{"keyid":"","sig":"AA=="}]}`))
	f.Add([]byte(`{"payloadType":"text/plain","payload":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, st, payload, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if env.PayloadType != InTotoPayloadType || !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
			t.Fatalf("accepted %q / %q", env.PayloadType, st.Type)
		}
		if base64.StdEncoding.EncodeToString(payload) != env.Payload {
			t.Fatal("returned payload is not the envelope's")
		}
	})
}

// TestVerifierDoesNotCacheOutages: a registry error is not a verdict; the
// next check goes to the registry again instead of repeating the outage.
func TestVerifierDoesNotCacheOutages(t *testing.T) {
	var down atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f := &fixture{host: strings.TrimPrefix(srv.URL, "http://"), ctx: context.Background()}
	pub, s := publicPEM(t)
	p, err := LoadPolicy(writePolicy(t, "rules:\n- pattern: '"+f.host+"/*'\n  keys: [k.pub]\n", map[string][]byte{"k.pub": pub}))
	if err != nil {
		t.Fatal(err)
	}
	ref := f.push(t, "app:1")
	if _, err := Sign(f.ctx, ref, s, nil); err != nil {
		t.Fatal(err)
	}
	d, err := Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(p, time.Hour)
	down.Store(true)
	err = v.Check(f.ctx, d)
	if err == nil || reason(err) != "" {
		t.Fatalf("during the outage: %v, want a registry error that is not a verdict", err)
	}
	down.Store(false)
	if err := v.Check(f.ctx, d); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}
