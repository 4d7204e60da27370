package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/internal/store"
)

// Image reads a stored image manifest straight from the store and the
// blob store, for scanning on push: no HTTP, no gate, no events.
func (h *Handler) Image(ctx context.Context, repo, digest string) (v1.Image, error) {
	m, err := h.Store.GetManifest(ctx, repo, digest)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&localImage{ctx: ctx, h: h, repo: repo, m: m.Content, mt: types.MediaType(m.MediaType)})
}

type localImage struct {
	// ctx is the scan's: go-containerregistry's interfaces take none.
	ctx  context.Context
	h    *Handler
	repo string
	m    []byte
	mt   types.MediaType
}

func (l *localImage) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *localImage) RawManifest() ([]byte, error)        { return l.m, nil }

func (l *localImage) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(l.m))
	if err != nil {
		return nil, err
	}
	rc, err := l.open(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxManifest))
}

func (l *localImage) open(h v1.Hash) (io.ReadCloser, error) {
	d, err := ParseDigest(h.String())
	if err != nil {
		return nil, err
	}
	return l.h.Blobs.Open(l.ctx, d)
}

func (l *localImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(l.m))
	if err != nil {
		return nil, err
	}
	for _, d := range m.Layers {
		if d.Digest == h {
			return &localLayer{img: l, desc: d}, nil
		}
	}
	if m.Config.Digest == h {
		return &localLayer{img: l, desc: m.Config}, nil
	}
	return nil, ErrBlobUnknown
}

type localLayer struct {
	img  *localImage
	desc v1.Descriptor
}

func (l *localLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *localLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *localLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *localLayer) Compressed() (io.ReadCloser, error)  { return l.img.open(l.desc.Digest) }

// Transport serves requests in process, straight to the registry
// without the gate or events (a copy of the handler): how the server
// verifies signatures stored in itself.
func (h *Handler) Transport() http.RoundTripper {
	inner := *h
	inner.Gate, inner.BlobGate, inner.CanRead, inner.OnEvent = AllowAllUnsafe, AllowAllBlobsUnsafe, AnyoneCanReadUnsafe, nil
	return roundTripper{&inner}
}

type roundTripper struct{ h http.Handler }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &recorder{header: http.Header{}, code: http.StatusOK}
	t.h.ServeHTTP(w, r)
	return &http.Response{
		StatusCode: w.code, Status: http.StatusText(w.code), Header: w.header,
		Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()),
		Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// recorder buffers a response: in-process requests are manifests, tag
// lists and signature payloads, never layers.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// IsImage says whether a stored manifest is a container image, by what
// it references, never by a field its pusher chooses: an image
// configuration and layers that are not signature, attestation or SBOM
// payloads. An image manifest that declares an artifactType is still an
// image, scanned and gated. Signatures, attestations and SBOMs (cosign
// reuses the image config media type for them, with payload layers) and
// OCI artifacts with another config are not. When in doubt it is an
// image: being gated is the safe mistake.
func IsImage(m *store.Manifest) bool {
	if m.MediaType != ociManifest && m.MediaType != dockerManifest {
		return false // indexes are gated through the images they list
	}
	var body struct {
		Config struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	if json.Unmarshal(m.Content, &body) != nil {
		return true
	}
	if body.Config.MediaType != ociConfig && body.Config.MediaType != dockerConfig {
		return false
	}
	if len(body.Layers) == 0 {
		return true
	}
	for _, l := range body.Layers {
		if !artifactPayload(l.MediaType) {
			return true
		}
	}
	return false
}

const (
	ociConfig    = "application/vnd.oci.image.config.v1+json"
	dockerConfig = "application/vnd.docker.container.image.v1+json"
)

// artifactPayload lists the layer media types of signatures,
// attestations and SBOMs: content no runtime unpacks.
func artifactPayload(mt string) bool {
	switch mt {
	case "application/vnd.dev.cosign.simplesigning.v1+json", "application/vnd.dsse.envelope.v1+json",
		"application/vnd.in-toto+json", "application/vnd.dev.sigstore.bundle.v0.3+json", "application/vnd.dev.sigstore.bundle+json;version=0.3",
		"text/spdx", "text/spdx+json", "application/spdx+json", "text/spdx+xml",
		"application/vnd.cyclonedx", "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+xml",
		"application/vnd.syft+json", "application/vnd.cncf.notary.signature", "application/vnd.oci.empty.v1+json":
		return true
	}
	return false
}
