package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Reason says why verification failed.
type Reason string

// The reasons verification fails; each has its own message.
const (
	NoSignature       Reason = "no-signature"
	UntrustedKey      Reason = "untrusted-key"
	DigestMismatch    Reason = "digest-mismatch"
	TamperedSignature Reason = "tampered-signature"
	TamperedPayload   Reason = "tampered-payload"
	TagMoved          Reason = "tag-moved"
)

// VerifyError is a failed verification. Callers branch on Reason.
type VerifyError struct {
	Reason Reason
	Ref    string
	Detail string
}

var reasonMessages = map[Reason]string{
	NoSignature:       "no signature",
	UntrustedKey:      "not signed by a trusted key",
	DigestMismatch:    "the signed payload names another image digest",
	TamperedSignature: "a signature is malformed (altered)",
	TamperedPayload:   "a signed payload is malformed or does not match its digest (altered)",
	TagMoved:          "the tag moved since it was signed",
	Stale:             "the attestation is too old",
}

// reasonRank orders the reasons Verify can report when several
// signatures fail: the most telling one wins.
var reasonRank = map[Reason]int{UntrustedKey: 1, TamperedSignature: 2, TamperedPayload: 3, DigestMismatch: 4, Stale: 5}

// Summary is the reason in words ("no signature", "the attestation is
// too old").
func (e *VerifyError) Summary() string { return reasonMessages[e.Reason] }

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verify %s: %s: %s", e.Ref, reasonMessages[e.Reason], e.Detail)
}

// Verified is a successful verification.
type Verified struct {
	Digest  name.Digest
	Payload *Payload
	// Key is the index of the trusted key that verified it.
	Key int
	// Bundle says the signature was a Sigstore bundle referrer (cosign
	// v3), not a simple-signing payload under the .sig tag (Payload nil).
	Bundle bool
}

// Verify checks that a signature by one of keys covers exactly the digest
// ref names now, in either place cosign keeps one: the sha256-<hex>.sig
// tag (cosign v2) or a Sigstore bundle referrer (cosign v3). With no keys
// it refuses: there is no way to accept an unsigned image by accident.
func Verify(ctx context.Context, ref name.Reference, keys []signature.Verifier, opts ...remote.Option) (*Verified, error) {
	if len(keys) == 0 {
		return nil, errors.New("verify: no trusted key given")
	}
	opts = append(opts, remote.WithContext(ctx))
	d, h, sigs, err := sidecar(ref, SignatureTag, opts...)
	if err != nil {
		return nil, err
	}
	c := &tally{}
	if sigs != nil {
		if v, err := verifyTagged(sigs, d, keys, c); v != nil || err != nil {
			return v, err
		}
	}
	refs, err := referrers(d, opts...)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", ref, err)
	}
	for _, desc := range refs {
		if desc.ArtifactType == CosignSigArtifactType {
			img, err := referrerImage(d, desc, c, opts...)
			if err != nil {
				return nil, fmt.Errorf("verify %s: %w", ref, err)
			}
			if img == nil {
				continue
			}
			if v, err := verifyTagged(img, d, keys, c); v != nil || err != nil {
				return v, err
			}
			continue
		}
		st, k, err := bundleFor(d, h, desc, keys, CosignSignPredicate, c, opts...)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", ref, err)
		}
		if st != nil {
			return &Verified{Digest: d, Key: k, Bundle: true}, nil
		}
	}
	if c.worst != "" {
		return nil, &VerifyError{Reason: c.worst, Ref: ref.String(), Detail: c.detail}
	}
	if t, ok := ref.(name.Tag); ok && c.found == 0 {
		if err := CheckTagMoved(ctx, t, d, opts...); err != nil {
			return nil, err
		}
	}
	return nil, &VerifyError{Reason: NoSignature, Ref: ref.String(),
		Detail: "no simple-signing payload under " + SignatureTag(d.Context(), h).TagStr() + " and no signature referrer or Sigstore bundle"}
}

// verifyTagged checks the simple-signing payloads of a cosign signature
// manifest, noting failures in c.
func verifyTagged(sigs v1.Image, d name.Digest, keys []signature.Verifier, c *tally) (*Verified, error) {
	m, err := sigs.Manifest()
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", d, err)
	}
	layers, err := sigs.Layers()
	if err != nil {
		return nil, err
	}
	for i, l := range layers {
		if i >= len(m.Layers) {
			break
		}
		if mt := string(m.Layers[i].MediaType); mt != SimpleSigningMediaType && mt != AltSimpleSigningMediaType {
			continue
		}
		c.found++
		body, err := readLayer(l)
		if err != nil {
			c.note(TamperedPayload, fmt.Sprintf("signature %d: %v", i, err))
			continue
		}
		sigB64 := m.Layers[i].Annotations[SignatureAnnotation]
		sig, err := base64.StdEncoding.DecodeString(sigB64)
		if err != nil || len(sig) == 0 {
			c.note(TamperedSignature, fmt.Sprintf("signature %d is not base64", i))
			continue
		}
		p, perr := ParsePayload(body)
		for k, key := range keys {
			if err := key.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
				continue
			}
			if perr != nil {
				c.note(TamperedPayload, fmt.Sprintf("signature %d: %v", i, perr))
				break
			}
			if p.Critical.Image.DockerManifestDigest != d.DigestStr() {
				c.note(DigestMismatch, fmt.Sprintf("trusted signature %d covers %s, the image is %s", i, p.Critical.Image.DockerManifestDigest, d.DigestStr()))
				break
			}
			return &Verified{Digest: d, Payload: p, Key: k}, nil
		}
		if perr != nil {
			c.note(TamperedPayload, fmt.Sprintf("signature %d: %v", i, perr))
		} else {
			c.note(UntrustedKey, fmt.Sprintf("%d signature(s) found, none verifies with the %d trusted key(s)", len(layers), len(keys)))
		}
	}
	return nil, nil
}

// sidecar resolves ref and reads the manifest cosign keeps beside its
// digest under the tag tagFor names (signatures, attestations). img is
// nil when there is none.
func sidecar(ref name.Reference, tagFor func(name.Repository, v1.Hash) name.Tag, opts ...remote.Option) (d name.Digest, h v1.Hash, img v1.Image, err error) {
	if d, err = Resolve(ref, opts...); err != nil {
		return d, h, nil, err
	}
	if h, err = v1.NewHash(d.DigestStr()); err != nil {
		return d, h, nil, err
	}
	tag := tagFor(d.Context(), h)
	img, err = remote.Image(tag, opts...)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return d, h, nil, nil
	}
	if err != nil {
		return d, h, nil, fmt.Errorf("verify %s: read %s: %w", ref, tag.TagStr(), err)
	}
	return d, h, img, nil
}

func readLayer(l v1.Layer) ([]byte, error) { return readLayerMax(l, maxBundle) }

// readLayerMax reads a signature or attestation layer, refusing (not
// truncating) one larger than max.
func readLayerMax(l v1.Layer, max int64) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("layer exceeds the %d-byte limit", max)
	}
	return b, nil
}

// CheckTagMoved tells an unsigned digest d that tag t names now from a tag
// that moved: it returns a TagMoved error when a signature made through t
// names another digest, and nil otherwise. Callers that verify a resolved
// digest (a policy Verifier) use it to explain a NoSignature.
func CheckTagMoved(ctx context.Context, t name.Tag, d name.Digest, opts ...remote.Option) error {
	signed, found := signedDigestForTag(ctx, t, append(opts, remote.WithContext(ctx))...)
	if !found || signed == d.DigestStr() {
		return nil
	}
	return &VerifyError{Reason: TagMoved, Ref: t.String(),
		Detail: fmt.Sprintf("%s was signed as %s but now points to %s, which is unsigned", t.TagStr(), signed, d.DigestStr())}
}

// signedDigestForTag looks through the repository's signatures for one
// made when tag named another digest (bulwark records the tag it signed
// through in the payload's optional "tag").
func signedDigestForTag(ctx context.Context, t name.Tag, opts ...remote.Option) (string, bool) {
	tags, err := remote.List(t.Context(), opts...)
	if err != nil {
		return "", false
	}
	for _, st := range tags {
		if !strings.HasSuffix(st, ".sig") {
			continue
		}
		img, err := remote.Image(t.Context().Tag(st), opts...)
		if err != nil {
			continue
		}
		layers, _ := img.Layers()
		for _, l := range layers {
			body, err := readLayer(l)
			if err != nil {
				continue
			}
			p, err := ParsePayload(body)
			if err == nil && p.Optional["tag"] == t.TagStr() {
				return p.Critical.Image.DockerManifestDigest, true
			}
		}
	}
	return "", false
}
