package admission

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/verdict"
)

// BenchmarkValidateCached is the steady state: the image's verdict is
// cached, so a review costs decoding, the hardening checks and the
// answer.
func BenchmarkValidateCached(b *testing.B) {
	f := newFixture(b)
	f.wh.Audit = nil
	body := reviewBody(b, f, "pod-compliant")
	f.review(b, body, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.wh.Review(context.Background(), body, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateFirstDecision judges an image never seen before: the
// tag is resolved in the registry (HTTP on 127.0.0.1) and its signature
// read and verified.
func BenchmarkValidateFirstDecision(b *testing.B) {
	f := newFixture(b)
	f.wh.Audit = nil
	body := reviewBody(b, f, "pod-compliant")
	ri := f.wh.Images.(*RegistryImages)
	b.ReportAllocs()
	for b.Loop() {
		f.wh.Images = &RegistryImages{Doc: ri.Doc, Eval: &verdict.Evaluator{}, TTL: time.Minute}
		if _, err := f.wh.Review(context.Background(), body, false); err != nil {
			b.Fatal(err)
		}
	}
}

func reviewBody(b testing.TB, f *fixture, name string) []byte {
	raw, err := os.ReadFile(filepath.Join("testdata", "reviews", name+".json"))
	if err != nil {
		b.Fatal(err)
	}
	return bytes.ReplaceAll(raw, []byte("REGISTRY"), []byte(f.host))
}
