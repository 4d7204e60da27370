package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore bundles stored as OCI 1.1 referrers, the layout cosign v3
// writes by default (cosign's specs/BUNDLE_SPEC.md).
const (
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// CosignSignPredicate is the predicate of the in-toto statement
	// cosign v3 signs for `cosign sign` in the bundle format.
	CosignSignPredicate     = "https://sigstore.dev/cosign/sign/v1"
	bundleContentAnnotation = "dev.sigstore.bundle.content"
	bundlePredicateAnnot    = "dev.sigstore.bundle.predicateType"
	emptyMediaType          = "application/vnd.oci.empty.v1+json"
	// maxBundle caps a bundle read from a registry; SBOM predicates make
	// attestation bundles large, a hostile registry makes them huge.
	maxBundle = 64 << 20
)

// isBundleType accepts every published bundle media type
// (application/vnd.dev.sigstore.bundle+json;version=0.x and .v0.3+json).
func isBundleType(mt string) bool {
	return strings.HasPrefix(mt, "application/vnd.dev.sigstore.bundle")
}

// SignBundle signs the digest ref names as cosign v3 does by default: an
// in-toto statement (predicate https://sigstore.dev/cosign/sign/v1, the
// annotations on its subject) in a DSSE envelope in a Sigstore bundle,
// pushed as an OCI 1.1 referrer of the image. Other referrers are kept.
func SignBundle(ctx context.Context, ref name.Reference, s Signer, annotations map[string]any, opts ...remote.Option) (name.Digest, error) {
	d, err := Resolve(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return name.Digest{}, err
	}
	if t, ok := ref.(name.Tag); ok {
		annotations = WithTag(annotations, t)
	}
	if _, err := writeBundle(ctx, d, s, CosignSignPredicate, []byte("{}"), annotations, opts...); err != nil {
		return name.Digest{}, err
	}
	return d, nil
}

// AttestBundle is Attest in the Sigstore bundle format, as a referrer.
func AttestBundle(ctx context.Context, ref name.Reference, s Signer, predicateType string, predicate []byte, opts ...remote.Option) (name.Digest, error) {
	if !json.Valid(predicate) {
		return name.Digest{}, errors.New("attest: the predicate is not JSON")
	}
	d, err := Resolve(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return name.Digest{}, err
	}
	if _, err := writeBundle(ctx, d, s, predicateType, predicate, nil, opts...); err != nil {
		return name.Digest{}, err
	}
	return d, nil
}

// HasBundles says whether any Sigstore bundle refers to d.
func HasBundles(ctx context.Context, d name.Digest, opts ...remote.Option) (bool, error) {
	refs, err := referrers(d, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return false, err
	}
	for _, desc := range refs {
		if isBundleType(desc.ArtifactType) || desc.Annotations[bundleContentAnnotation] != "" {
			return true, nil
		}
	}
	return false, nil
}

// bundleStatement is an in-toto v1 statement about one image.
func bundleStatement(d name.Digest, predicateType string, predicate []byte, annotations map[string]any) ([]byte, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	var st Statement
	st.Type, st.PredicateType, st.Predicate = "https://in-toto.io/Statement/v1", predicateType, predicate
	st.Subject = append(st.Subject, Subject{Name: d.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}, Annotations: annotations})
	return json.Marshal(st)
}

// publicKeyHint is how cosign names a key in a bundle: the base64 SHA-256
// of its DER encoding. Verifiers here ignore it (every trusted key is
// tried), so a missing public key only leaves the hint empty.
func publicKeyHint(s Signer) string {
	pk, ok := s.(interface {
		PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error)
	})
	if !ok {
		return ""
	}
	key, err := pk.PublicKey()
	if err != nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// writeBundle signs an in-toto statement about d as a DSSE envelope in a
// Sigstore bundle and pushes it as a referrer of d (the registry's
// referrers API, or the referrers tag schema where it has none).
func writeBundle(ctx context.Context, d name.Digest, s Signer, predicateType string, predicate []byte, annotations map[string]any, opts ...remote.Option) (v1.Hash, error) {
	opts = append(opts, remote.WithContext(ctx))
	payload, err := bundleStatement(d, predicateType, predicate, annotations)
	if err != nil {
		return v1.Hash{}, err
	}
	sig, err := s.SignMessage(bytes.NewReader(pae(InTotoPayloadType, payload)))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("sign bundle: %w", err)
	}
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: publicKeyHint(s)}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: InTotoPayloadType,
			Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	body, err := protojson.Marshal(b)
	if err != nil {
		return v1.Hash{}, err
	}
	desc, err := remote.Head(d, opts...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("read %s: %w", d, err)
	}
	layer := static.NewLayer(body, types.MediaType(BundleMediaType))
	config := static.NewLayer([]byte("{}"), types.MediaType(emptyMediaType))
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(d.Context(), l, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("push bundle to %s: %w", d.Context(), err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config:        descriptorOf(config),
		Layers:        []v1.Descriptor{descriptorOf(layer)},
		Subject:       &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
		Annotations: map[string]string{
			bundleContentAnnotation:            "dsse-envelope",
			bundlePredicateAnnot:               predicateType,
			"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Put(d.Context().Digest(h.String()), rawManifest{raw, types.OCIManifestSchema1}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push bundle referrer of %s: %w", d, err)
	}
	return h, nil
}

func descriptorOf(l v1.Layer) v1.Descriptor {
	// static layers cannot fail these.
	dg, _ := l.Digest()
	sz, _ := l.Size()
	mt, _ := l.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: dg, Size: sz}
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// tally collects why the candidate signatures of an image failed, so the
// most telling reason is reported when none verifies.
type tally struct {
	// found counts candidates, verified or not.
	found  int
	worst  Reason
	detail string
}

func (c *tally) note(r Reason, msg string) {
	if reasonRank[r] > reasonRank[c.worst] {
		c.worst, c.detail = r, msg
	}
}

// CosignSigArtifactType is the artifact type of a cosign signature
// manifest pushed as a referrer (cosign --registry-referrers-mode=oci-1-1):
// simple-signing layers, as under the .sig tag.
const CosignSigArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// referrers lists the manifests referring to d, through the registry's
// referrers API or the referrers tag schema. A registry error other than
// "none" is returned, never read as "unsigned".
func referrers(d name.Digest, opts ...remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(d, opts...)
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusNotAcceptable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", d, err)
	}
	return im.Manifests, nil
}

// referrerImage reads one referrer manifest. Only a server error is
// returned as an error; anything else is a malformed candidate.
func referrerImage(d name.Digest, desc v1.Descriptor, c *tally, opts ...remote.Option) (v1.Image, error) {
	img, err := remote.Image(d.Context().Digest(desc.Digest.String()), opts...)
	if err == nil {
		_, err = img.Manifest()
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode >= 500 {
		return nil, fmt.Errorf("read referrer %s: %w", desc.Digest, err)
	}
	if err != nil {
		c.found++
		c.note(TamperedPayload, fmt.Sprintf("referrer %s: %v", desc.Digest, err))
		return nil, nil
	}
	return img, nil
}

// bundleFor reads and verifies a bundle referrer of predicateType. It
// returns nil when desc is no such bundle or it failed (noted in c).
func bundleFor(d name.Digest, h v1.Hash, desc v1.Descriptor, keys []signature.Verifier, predicateType string, c *tally, opts ...remote.Option) (*Statement, int, error) {
	// Some registries (go-containerregistry's among them) list the config
	// media type instead of the manifest's artifactType; cosign's bundle
	// annotation identifies those.
	if !isBundleType(desc.ArtifactType) && desc.Annotations[bundleContentAnnotation] == "" {
		return nil, 0, nil
	}
	if pt, ok := desc.Annotations[bundlePredicateAnnot]; ok && pt != predicateType {
		return nil, 0, nil
	}
	img, err := referrerImage(d, desc, c, opts...)
	if img == nil || err != nil {
		return nil, 0, err
	}
	body, err := readBundle(img)
	if err != nil {
		c.found++
		c.note(TamperedPayload, fmt.Sprintf("bundle %s: %v", desc.Digest, err))
		return nil, 0, nil
	}
	st, k, r, msg := verifyBundle(body, keys, h, predicateType)
	if r == "" && st == nil {
		return nil, 0, nil // another predicate type
	}
	c.found++
	if r != "" {
		c.note(r, fmt.Sprintf("bundle %s: %s", desc.Digest.Hex[:12], msg))
		return nil, 0, nil
	}
	return st, k, nil
}

// readBundle reads the single bundle layer of a referrer manifest.
func readBundle(img v1.Image) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != 1 || !isBundleType(string(m.Layers[0].MediaType)) {
		return nil, fmt.Errorf("a bundle referrer holds %d layers, want one bundle", len(m.Layers))
	}
	if m.Layers[0].Size > maxBundle {
		return nil, fmt.Errorf("bundle of %d bytes exceeds the %d-byte limit", m.Layers[0].Size, maxBundle)
	}
	l, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		return nil, err
	}
	return readLayerMax(l, maxBundle)
}

// verifyBundle verifies one bundle against each trusted key: a
// signature of its DSSE envelope (over the DSSE pre-authentication
// encoding) by the key, and an in-toto statement whose subject names h.
// Trust comes from the key alone, as with cosign verify --key and
// --insecure-ignore-tlog: transparency-log entries and timestamps the
// bundle may carry are not checked. It returns the statement and key
// index on success; on failure the reason. A valid bundle of another
// predicate type returns (nil, 0, "").
//
// This is the part of sigstore-go's verifier a key policy uses; linking
// sigstore-go cost every command ~25 ms of start-up (its transitive
// go-openapi, govalidator, gRPC and TUF packages initialise at start).
func verifyBundle(body []byte, keys []signature.Verifier, h v1.Hash, predicateType string) (*Statement, int, Reason, string) {
	var b protobundle.Bundle
	if err := protojson.Unmarshal(body, &b); err != nil {
		return nil, 0, TamperedPayload, "not a Sigstore bundle: " + err.Error()
	}
	if !isBundleType(b.GetMediaType()) {
		return nil, 0, TamperedPayload, fmt.Sprintf("media type %q is not a Sigstore bundle's", b.GetMediaType())
	}
	if b.GetVerificationMaterial() == nil {
		return nil, 0, TamperedPayload, "the bundle holds no verification material"
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, 0, TamperedPayload, "the bundle holds no DSSE envelope (message-signature bundles name no image)"
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, 0, TamperedPayload, fmt.Sprintf("payload type %q is not in-toto", env.PayloadType)
	}
	var st Statement
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		return nil, 0, TamperedPayload, "in-toto statement: " + err.Error()
	}
	if st.PredicateType != predicateType {
		return nil, 0, "", ""
	}
	names := false
	for _, sub := range st.Subject {
		if d := sub.Digest[h.Algorithm]; d != "" && strings.EqualFold(d, h.Hex) {
			names = true
		}
	}
	msg := pae(env.PayloadType, env.Payload)
	for k, key := range keys {
		signed := false
		for _, sig := range env.Signatures {
			if key.VerifySignature(bytes.NewReader(sig.Sig), bytes.NewReader(msg)) == nil {
				signed = true
				break
			}
		}
		if !signed {
			continue
		}
		// The signature is checked before the subject, so a good
		// signature over another digest is told apart from a bad one.
		if !names {
			return nil, 0, DigestMismatch, fmt.Sprintf("a trusted bundle signature covers another digest than %s", h)
		}
		return &st, k, "", ""
	}
	return nil, 0, UntrustedKey, fmt.Sprintf("no trusted key (of %d) verifies the bundle signature", len(keys))
}
