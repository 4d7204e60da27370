package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Media type and annotation cosign uses for simple-signing payloads.
// cosign writes the first media type; the second appears in
// documentation and older tools, and is read too.
const (
	SimpleSigningMediaType    = "application/vnd.dev.cosign.simplesigning.v1+json"
	AltSimpleSigningMediaType = "application/vnd.dev.cosignproject.cosign/simplesigning.v1+json"
	SignatureAnnotation       = "dev.cosignproject.cosign/signature"
	payloadType               = "cosign container image signature"
)

// Payload is the simple-signing document a signature covers.
type Payload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// ParsePayload decodes and validates a simple-signing payload.
func ParsePayload(b []byte) (*Payload, error) {
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("signature payload: %w", err)
	}
	if p.Critical.Type != payloadType {
		return nil, fmt.Errorf("signature payload: type %q is not %q", p.Critical.Type, payloadType)
	}
	if !strings.HasPrefix(p.Critical.Image.DockerManifestDigest, "sha256:") && !strings.HasPrefix(p.Critical.Image.DockerManifestDigest, "sha512:") {
		return nil, fmt.Errorf("signature payload: no image digest")
	}
	return &p, nil
}

// SignatureTag is where cosign keeps the signatures of a digest.
func SignatureTag(repo name.Repository, digest v1.Hash) name.Tag {
	return repo.Tag(digest.Algorithm + "-" + digest.Hex + ".sig")
}

// AttestationTag is where cosign keeps the attestations of a digest.
func AttestationTag(repo name.Repository, digest v1.Hash) name.Tag {
	return repo.Tag(digest.Algorithm + "-" + digest.Hex + ".att")
}

// Signer signs payloads; the ECDSA key signer is the one built in, and a
// KMS or keyless signer can implement the same interface.
type Signer interface {
	SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error)
}

// NewKeySigner returns a signer for an ECDSA private key.
func NewKeySigner(k *ecdsa.PrivateKey) (Signer, error) {
	return signature.LoadECDSASignerVerifier(k, crypto.SHA256)
}

// Resolve returns the digest a reference names now (a tag is resolved).
func Resolve(ref name.Reference, opts ...remote.Option) (name.Digest, error) {
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		// HEAD answers carry no body, so a registry's reason for a refusal
		// (bulwark's pull gate says which vulnerability and how to fix it)
		// is lost; a GET brings it.
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusForbidden || te.StatusCode == http.StatusUnauthorized) {
			if gd, gerr := remote.Get(ref, opts...); gerr == nil {
				return ref.Context().Digest(gd.Digest.String()), nil
			} else {
				err = gerr
			}
		}
		return name.Digest{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// Sign signs the image's digest and appends the signature to the
// signature manifest, keeping every other signer's signatures.
func Sign(ctx context.Context, ref name.Reference, s Signer, annotations map[string]any, opts ...remote.Option) (name.Digest, error) {
	opts = append(opts, remote.WithContext(ctx))
	d, err := Resolve(ref, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	if t, ok := ref.(name.Tag); ok {
		annotations = WithTag(annotations, t)
	}
	var p Payload
	p.Critical.Identity.DockerReference = d.Context().Name()
	p.Critical.Image.DockerManifestDigest = d.DigestStr()
	p.Critical.Type = payloadType
	p.Optional = annotations
	body, err := json.Marshal(p)
	if err != nil {
		return name.Digest{}, err
	}
	sig, err := s.SignMessage(bytes.NewReader(body))
	if err != nil {
		return name.Digest{}, fmt.Errorf("sign: %w", err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return name.Digest{}, err
	}
	tag := SignatureTag(d.Context(), h)
	base, err := existing(tag, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	layer := static.NewLayer(body, types.MediaType(SimpleSigningMediaType))
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}})
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("push signature %s: %w", tag, err)
	}
	return d, nil
}

// WithTag remembers the tag signed through, so verification can tell a
// moved tag from an unsigned image.
func WithTag(annotations map[string]any, t name.Tag) map[string]any {
	if annotations == nil {
		annotations = map[string]any{}
	}
	if _, set := annotations["tag"]; !set {
		annotations["tag"] = t.TagStr()
	}
	return annotations
}

// existing returns the current signature manifest, or an empty OCI image.
func existing(tag name.Tag, opts ...remote.Option) (v1.Image, error) {
	img, err := remote.Image(tag, opts...)
	if err == nil {
		return img, nil
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == 404 {
		base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		return mutate.ConfigMediaType(base, types.OCIConfigJSON), nil
	}
	return nil, fmt.Errorf("read signatures %s: %w", tag, err)
}
