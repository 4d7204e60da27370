package sign

import (
	"bytes"
	"context"
	"encoding/base64"
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
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
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
	st.Subject = append(st.Subject, struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}{d.Context().Name(), map[string]string{h.Algorithm: h.Hex}})
	payload, err := json.Marshal(st)
	if err != nil {
		return name.Digest{}, err
	}
	sig, err := s.SignMessage(bytes.NewReader(pae(InTotoPayloadType, payload)))
	if err != nil {
		return name.Digest{}, err
	}
	env := Envelope{PayloadType: InTotoPayloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	env.Signatures = append(env.Signatures, struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}{"", base64.StdEncoding.EncodeToString(sig)})
	body, err := json.Marshal(env)
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
}

// VerifyAttestation finds an attestation of predicateType, signed by one
// of keys, whose subject is exactly the digest ref names now. maxAge > 0
// also requires the predicate's timestamp (SLSA metadata.buildFinishedOn,
// CycloneDX metadata.timestamp, OpenVEX timestamp) to be recent.
func VerifyAttestation(ctx context.Context, ref name.Reference, keys []signature.Verifier, predicateType string, maxAge time.Duration, now time.Time, opts ...remote.Option) (*Attestation, error) {
	if len(keys) == 0 {
		return nil, errors.New("verify attestation: no trusted key given")
	}
	opts = append(opts, remote.WithContext(ctx))
	d, h, img, err := sidecar(ref, AttestationTag, opts...)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, &VerifyError{Reason: NoSignature, Ref: ref.String(), Detail: "no attestation under " + AttestationTag(d.Context(), h).TagStr()}
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var last *VerifyError
	for i, l := range layers {
		body, err := readLayer(l)
		if err != nil {
			last = &VerifyError{Reason: TamperedPayload, Ref: ref.String(), Detail: err.Error()}
			continue
		}
		env, st, payload, err := ParseEnvelope(body)
		if err != nil {
			last = &VerifyError{Reason: TamperedPayload, Ref: ref.String(), Detail: fmt.Sprintf("attestation %d: %v", i, err)}
			continue
		}
		if st.PredicateType != predicateType {
			continue
		}
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
			match := false
			for _, sub := range st.Subject {
				if sub.Digest[h.Algorithm] == h.Hex {
					match = true
				}
			}
			if !match {
				last = &VerifyError{Reason: DigestMismatch, Ref: ref.String(), Detail: fmt.Sprintf("attestation %d is about another digest", i)}
				break
			}
			if maxAge > 0 {
				ts, found := predicateTime(st.Predicate)
				if !found || now.Sub(ts) > maxAge {
					last = &VerifyError{Reason: Stale, Ref: ref.String(), Detail: fmt.Sprintf("attestation %d is older than %s (or carries no timestamp)", i, maxAge)}
					break
				}
			}
			return &Attestation{Statement: st, Key: k}, nil
		}
		if last == nil {
			last = &VerifyError{Reason: UntrustedKey, Ref: ref.String(), Detail: fmt.Sprintf("a %s attestation exists but no trusted key signed it", predicateType)}
		}
	}
	if last == nil {
		last = &VerifyError{Reason: NoSignature, Ref: ref.String(), Detail: "no attestation of type " + predicateType}
	}
	return nil, last
}

// Stale is the reason for an attestation older than the allowed age.
const Stale Reason = "stale-attestation"

func predicateTime(p json.RawMessage) (time.Time, bool) {
	var m struct {
		Timestamp string `json:"timestamp"`
		Metadata  struct {
			Timestamp       string `json:"timestamp"`
			BuildFinishedOn string `json:"buildFinishedOn"`
		} `json:"metadata"`
	}
	if json.Unmarshal(p, &m) != nil {
		return time.Time{}, false
	}
	for _, s := range []string{m.Metadata.BuildFinishedOn, m.Metadata.Timestamp, m.Timestamp} {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
