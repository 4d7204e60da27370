package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
)

// DSSE and in-toto constants, as cosign writes attestations.
const (
	DSSEMediaType       = "application/vnd.dsse.envelope.v1+json"
	InTotoPayloadType   = "application/vnd.in-toto+json"
	InTotoStatementType = "https://in-toto.io/Statement/v0.1"
	predicateAnnotation = "predicateType"
)

// PredicateTypes maps cosign's --type shorthands to predicate type URIs.
var PredicateTypes = map[string]string{
	"cyclonedx":      "https://cyclonedx.org/bom",
	"spdx":           "https://spdx.dev/Document",
	"spdxjson":       "https://spdx.dev/Document",
	"openvex":        "https://openvex.dev/ns",
	"vuln":           "https://cosign.sigstore.dev/attestation/vuln/v1",
	"slsaprovenance": "https://slsa.dev/provenance/v0.2",
	"custom":         "https://cosign.sigstore.dev/attestation/v1",
}

// PredicateType resolves a shorthand or returns a URI as given.
func PredicateType(t string) (string, error) {
	if u, ok := PredicateTypes[t]; ok {
		return u, nil
	}
	if strings.Contains(t, "://") {
		return t, nil
	}
	return "", fmt.Errorf("predicate type %q: use cyclonedx, spdx, openvex, vuln, slsaprovenance, custom or a URI", t)
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// Statement is an in-toto statement.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is what an in-toto statement is about.
type Subject struct {
	Name        string            `json:"name,omitempty"`
	Digest      map[string]string `json:"digest"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

// signStatement signs an in-toto statement as a DSSE envelope.
func signStatement(s Signer, st Statement) ([]byte, error) {
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sig, err := s.SignMessage(bytes.NewReader(pae(InTotoPayloadType, payload)))
	if err != nil {
		return nil, err
	}
	env := Envelope{PayloadType: InTotoPayloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	env.Signatures = append(env.Signatures, struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}{"", base64.StdEncoding.EncodeToString(sig)})
	return json.Marshal(env)
}

// AttestBlob signs an in-toto statement about a file (its name and
// SHA-256) with a predicate, as a DSSE envelope: what cosign
// verify-blob-attestation and VerifyBlobAttestation check.
func AttestBlob(s Signer, name string, blob []byte, predicateType string, predicate []byte) ([]byte, error) {
	if !json.Valid(predicate) {
		return nil, errors.New("attest: the predicate is not JSON")
	}
	sum := sha256.Sum256(blob)
	st := Statement{Type: InTotoStatementType, PredicateType: predicateType, Predicate: predicate,
		Subject: []Subject{{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}}}
	return signStatement(s, st)
}

// VerifyBlobAttestation checks a DSSE envelope: signed by one of keys,
// of predicateType, about exactly this blob (its SHA-256). It returns
// the statement.
func VerifyBlobAttestation(envelope, blob []byte, keys []signature.Verifier, predicateType string) (*Statement, error) {
	env, st, payload, err := ParseEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	signed := false
	for _, key := range keys {
		for _, s := range env.Signatures {
			sig, err := base64.StdEncoding.DecodeString(s.Sig)
			if err == nil && key.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae(env.PayloadType, payload))) == nil {
				signed = true
			}
		}
	}
	if !signed {
		return nil, errors.New("the envelope is not signed by the given key")
	}
	if predicateType != "" && st.PredicateType != predicateType {
		return nil, fmt.Errorf("predicate type %q, want %q", st.PredicateType, predicateType)
	}
	sum := sha256.Sum256(blob)
	want := hex.EncodeToString(sum[:])
	for _, sub := range st.Subject {
		if sub.Digest["sha256"] == want {
			return st, nil
		}
	}
	return nil, fmt.Errorf("the attestation is about another file (sha256 %s is not among its subjects)", want)
}

// pae is DSSE's pre-authentication encoding: what is actually signed.
func pae(payloadType string, payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload))
}

// ParseEnvelope decodes a DSSE envelope and its in-toto statement.
func ParseEnvelope(b []byte) (*Envelope, *Statement, []byte, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, nil, nil, fmt.Errorf("DSSE envelope: %w", err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, nil, nil, fmt.Errorf("DSSE envelope: payload type %q is not in-toto", env.PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("DSSE envelope: payload: %w", err)
	}
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, nil, nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
		return nil, nil, nil, fmt.Errorf("in-toto statement: _type %q", st.Type)
	}
	return &env, &st, payload, nil
}

// Attest wraps predicate in an in-toto statement about the image digest,
// signs it as a DSSE envelope and appends it under sha256-<hex>.att.
func Attest(ctx context.Context, ref name.Reference, s Signer, predicateType string, predicate []byte, opts ...remote.Option) (name.Digest, error) {
	opts = append(opts, remote.WithContext(ctx))
	if !json.Valid(predicate) {
		return name.Digest{}, errors.New("attest: the predicate is not JSON")
	}
	d, err := Resolve(ref, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	h, _ := v1.NewHash(d.DigestStr())
	var st Statement
	st.Type, st.PredicateType, st.Predicate = InTotoStatementType, predicateType, predicate
	st.Subject = append(st.Subject, Subject{Name: d.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}})
	body, err := signStatement(s, st)
	if err != nil {
		return name.Digest{}, err
	}
	tag := AttestationTag(d.Context(), h)
	base, err := existing(tag, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: static.NewLayer(body, types.MediaType(DSSEMediaType)),
		// cosign expects the signature annotation on every layer of
		// an attestation manifest, empty: the signature is in the envelope.
		Annotations: map[string]string{predicateAnnotation: predicateType, SignatureAnnotation: ""}})
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("push attestation %s: %w", tag, err)
	}
	return d, nil
}

// Attestation is a verified attestation.
type Attestation struct {
	Statement *Statement
	Key       int
	// Bundle says it came from a Sigstore bundle referrer (cosign v3).
	Bundle bool
}

// VerifyAttestation finds an attestation of predicateType, signed by one
// of keys, whose subject is exactly the digest ref names now. maxAge > 0
// also requires the predicate's own time (predicateTimes: the vuln
// predicate's scanFinishedOn, CycloneDX metadata.timestamp, SPDX
// creationInfo.created, SLSA's build end, OpenVEX's timestamp) to be
// recent.
func VerifyAttestation(ctx context.Context, ref name.Reference, keys []signature.Verifier, predicateType string, maxAge time.Duration, now time.Time, opts ...remote.Option) (*Attestation, error) {
	if len(keys) == 0 {
		return nil, errors.New("verify attestation: no trusted key given")
	}
	opts = append(opts, remote.WithContext(ctx))
	d, h, img, err := sidecar(ref, AttestationTag, opts...)
	if err != nil {
		return nil, err
	}
	c := &tally{}
	if img != nil {
		if a, err := verifyEnvelopes(img, h, keys, predicateType, maxAge, now, c); a != nil || err != nil {
			return a, err
		}
	}
	refs, err := referrers(d, opts...)
	if err != nil {
		return nil, fmt.Errorf("verify attestation %s: %w", ref, err)
	}
	for _, desc := range refs {
		if desc.ArtifactType == InTotoPayloadType {
			// cosign attest --registry-referrers-mode=oci-1-1: DSSE
			// layers, as under the .att tag.
			img, err := referrerImage(d, desc, c, opts...)
			if err != nil {
				return nil, fmt.Errorf("verify attestation %s: %w", ref, err)
			}
			if img == nil {
				continue
			}
			if a, err := verifyEnvelopes(img, h, keys, predicateType, maxAge, now, c); a != nil || err != nil {
				return a, err
			}
			continue
		}
		st, k, err := bundleFor(d, h, desc, keys, predicateType, c, opts...)
		if err != nil {
			return nil, fmt.Errorf("verify attestation %s: %w", ref, err)
		}
		if st == nil {
			continue
		}
		if stale := staleness(st, maxAge, now); stale != "" {
			c.note(Stale, "the bundle attestation "+stale)
			continue
		}
		return &Attestation{Statement: st, Key: k, Bundle: true}, nil
	}
	if c.worst == "" {
		return nil, &VerifyError{Reason: NoSignature, Ref: ref.String(),
			Detail: fmt.Sprintf("no attestation of type %s under %s or among the referrers", predicateType, AttestationTag(d.Context(), h).TagStr())}
	}
	return nil, &VerifyError{Reason: c.worst, Ref: ref.String(), Detail: c.detail}
}

// verifyEnvelopes checks the DSSE layers of an attestation manifest for
// one of predicateType, signed by a trusted key, about h, fresh enough.
func verifyEnvelopes(img v1.Image, h v1.Hash, keys []signature.Verifier, predicateType string, maxAge time.Duration, now time.Time, c *tally) (*Attestation, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for i, l := range layers {
		body, err := readLayer(l)
		if err != nil {
			c.found++
			c.note(TamperedPayload, fmt.Sprintf("attestation %d: %v", i, err))
			continue
		}
		env, st, payload, err := ParseEnvelope(body)
		if err != nil {
			c.found++
			c.note(TamperedPayload, fmt.Sprintf("attestation %d: %v", i, err))
			continue
		}
		if st.PredicateType != predicateType {
			continue
		}
		c.found++
		trusted := false
		for k, key := range keys {
			ok := false
			for _, s := range env.Signatures {
				sig, err := base64.StdEncoding.DecodeString(s.Sig)
				if err == nil && key.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae(env.PayloadType, payload))) == nil {
					ok = true
				}
			}
			if !ok {
				continue
			}
			trusted = true
			match := false
			for _, sub := range st.Subject {
				if sub.Digest[h.Algorithm] == h.Hex {
					match = true
				}
			}
			if !match {
				c.note(DigestMismatch, fmt.Sprintf("attestation %d is about another digest", i))
				break
			}
			if stale := staleness(st, maxAge, now); stale != "" {
				c.note(Stale, fmt.Sprintf("attestation %d %s", i, stale))
				break
			}
			return &Attestation{Statement: st, Key: k}, nil
		}
		if !trusted {
			c.note(UntrustedKey, fmt.Sprintf("a %s attestation exists but no trusted key signed it", predicateType))
		}
	}
	return nil, nil
}

// staleness says why st is older than maxAge allows ("" when it is not,
// or when maxAge is 0).
func staleness(st *Statement, maxAge time.Duration, now time.Time) string {
	if maxAge <= 0 {
		return ""
	}
	ts, found := predicateTime(st.PredicateType, st.Predicate)
	if !found {
		return fmt.Sprintf("carries no timestamp, and a maximum age of %s is required", maxAge)
	}
	if now.Sub(ts) > maxAge {
		return fmt.Sprintf("is from %s, older than %s", ts.Format(time.RFC3339), maxAge)
	}
	return ""
}

// Stale is the reason for an attestation older than the allowed age.
const Stale Reason = "stale-attestation"

// predicateTimes are, per predicate type, the fields that say when the
// predicate's content was made, most telling first (JSON paths). Types
// not listed are tried with every path.
var predicateTimes = map[string][][]string{
	"https://cosign.sigstore.dev/attestation/vuln/v1": {{"metadata", "scanFinishedOn"}, {"metadata", "scanStartedOn"}},
	"https://cyclonedx.org/bom":                       {{"metadata", "timestamp"}},
	"https://spdx.dev/Document":                       {{"creationInfo", "created"}},
	"https://slsa.dev/provenance/v0.2":                {{"metadata", "buildFinishedOn"}, {"metadata", "buildStartedOn"}},
	"https://slsa.dev/provenance/v1":                  {{"runDetails", "metadata", "finishedOn"}, {"runDetails", "metadata", "startedOn"}},
	"https://openvex.dev/ns":                          {{"last_updated"}, {"timestamp"}},
	"https://cosign.sigstore.dev/attestation/v1":      {{"timestamp"}},
}

// predicateTime reads when a predicate was made from its own fields.
func predicateTime(predicateType string, p json.RawMessage) (time.Time, bool) {
	var m map[string]any
	if json.Unmarshal(p, &m) != nil {
		return time.Time{}, false
	}
	paths, ok := predicateTimes[predicateType]
	if !ok && strings.HasPrefix(predicateType, "https://openvex.dev/ns") {
		paths, ok = predicateTimes["https://openvex.dev/ns"], true
	}
	if !ok {
		for _, ps := range predicateTimes {
			paths = append(paths, ps...)
		}
	}
	for _, path := range paths {
		var v any = m
		for _, k := range path {
			obj, _ := v.(map[string]any)
			v = obj[k]
		}
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
