package sign

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
)

type fixture struct {
	host string
	ctx  context.Context
}

func newRegistry(t *testing.T) *fixture {
	f, _ := serveRegistry(t, func(*http.Request) bool { return false })
	return f
}

// serveRegistry serves a real (in-memory) registry over HTTP and counts
// the requests count selects.
func serveRegistry(t *testing.T, count func(*http.Request) bool, opts ...registry.Option) (*fixture, *atomic.Int64) {
	var n atomic.Int64
	reg := registry.New(append(opts, registry.Logger(log.New(io.Discard, "", 0)))...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count(r) {
			n.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &fixture{host: strings.TrimPrefix(srv.URL, "http://"), ctx: context.Background()}, &n
}

func (f *fixture) push(t *testing.T, ref string) name.Reference {
	img, _ := random.Image(512, 1)
	r, err := name.ParseReference(f.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return r
}

func keyPair(t testing.TB) (Signer, signature.Verifier) {
	pub, s := publicPEM(t)
	v, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func reason(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}

func TestSignVerify(t *testing.T) {
	f := newRegistry(t)
	alice, aliceKey := keyPair(t)
	bob, bobKey := keyPair(t)
	ref := f.push(t, "app/web:1")

	d, err := Sign(f.ctx, ref, alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.DigestStr(), "sha256:") {
		t.Fatalf("signed %s", d)
	}
	v, err := Verify(f.ctx, ref, []signature.Verifier{bobKey, aliceKey})
	if err != nil || v.Key != 1 || v.Payload.Critical.Image.DockerManifestDigest != d.DigestStr() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	// Signing appends: bob signs too and alice's signature survives.
	if _, err := Sign(f.ctx, d, bob, map[string]any{"ci": "build-42"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []signature.Verifier{aliceKey, bobKey} {
		if _, err := Verify(f.ctx, d, []signature.Verifier{k}); err != nil {
			t.Errorf("after a second signer: %v", err)
		}
	}

	// Each failure has its own reason.
	unsigned := f.push(t, "app/web:unsigned")
	_, carol := keyPair(t)
	tests := []struct {
		name string
		ref  name.Reference
		keys []signature.Verifier
		want Reason
	}{
		{"unsigned", unsigned, []signature.Verifier{aliceKey}, NoSignature},
		{"untrusted key", ref, []signature.Verifier{carol}, UntrustedKey},
	}
	for _, tc := range tests {
		_, err := Verify(f.ctx, tc.ref, tc.keys)
		if reason(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, err := Verify(f.ctx, ref, nil); err == nil {
		t.Error("verification without a key succeeded")
	}
}

// TestCopiedSignature copies image A's signature manifest to image B's
// signature tag: the trusted signature names A's digest.
func TestCopiedSignature(t *testing.T) {
	f := newRegistry(t)
	s, k := keyPair(t)
	a := f.push(t, "app/a:1")
	b := f.push(t, "app/a:2")
	da, _ := Sign(f.ctx, a, s, nil)
	db, _ := Resolve(b)
	sigA, err := remote.Image(sigTag(t, da))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sigTag(t, db), sigA); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(f.ctx, b, []signature.Verifier{k}); reason(err) != DigestMismatch {
		t.Errorf("copied signature: %v", err)
	}
}

func sigTag(t *testing.T, d name.Digest) name.Tag {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	return SignatureTag(d.Context(), h)
}

// TestTamperedSignature replaces the signature annotation with garbage.
func TestTamperedSignature(t *testing.T) {
	f := newRegistry(t)
	s, k := keyPair(t)
	ref := f.push(t, "app/x:1")
	d, _ := Sign(f.ctx, ref, s, nil)
	orig, _ := remote.Image(sigTag(t, d))
	layers, _ := orig.Layers()
	body, _ := readLayer(layers[0])
	for name, sig := range map[string]string{"not base64": "%%%", "wrong bytes": base64.StdEncoding.EncodeToString([]byte("not a signature"))} {
		// A fresh manifest holding the real payload and a bad signature.
		fresh, err := existing(sigTag(t, ref.Context().Digest("sha256:"+strings.Repeat("0", 64))))
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.Append(fresh, mutate.Addendum{Layer: static.NewLayer(body, types.MediaType(SimpleSigningMediaType)),
			Annotations: map[string]string{SignatureAnnotation: sig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(sigTag(t, d), img); err != nil {
			t.Fatal(err)
		}
		_, err = Verify(f.ctx, ref, []signature.Verifier{k})
		want := TamperedSignature
		if name == "wrong bytes" {
			want = UntrustedKey // a well-formed signature that verifies with no trusted key
		}
		if reason(err) != want {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
}

// TestTagMoved signs repo:v1, then pushes another image to the tag.
func TestTagMoved(t *testing.T) {
	f := newRegistry(t)
	s, k := keyPair(t)
	ref := f.push(t, "app/moving:v1")
	if _, err := Sign(f.ctx, ref, s, nil); err != nil {
		t.Fatal(err)
	}
	f.push(t, "app/moving:v1")
	_, err := Verify(f.ctx, ref, []signature.Verifier{k})
	if reason(err) != TagMoved || !strings.Contains(err.Error(), "now points to") {
		t.Errorf("moved tag: %v", err)
	}
}

func TestKeys(t *testing.T) {
	kp, err := GenerateKeyPair([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(kp.PrivatePEM), "ENCRYPTED SIGSTORE PRIVATE KEY") || strings.Contains(string(kp.PrivatePEM), "secret") {
		t.Errorf("private key PEM: %s", kp.PrivatePEM)
	}
	if _, err := LoadPrivateKey(kp.PrivatePEM, []byte("wrong")); !errors.Is(err, ErrBadPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := LoadPrivateKey([]byte("junk"), nil); err == nil {
		t.Error("junk accepted")
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err == nil && p.Critical.Type != payloadType {
			t.Fatal("accepted a payload of another type")
		}
	})
}
