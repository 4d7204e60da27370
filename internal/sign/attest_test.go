package sign

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
)

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
