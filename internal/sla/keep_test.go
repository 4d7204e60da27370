package sla

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"bulwark.dev/bulwark/internal/severity"
)

func keepSample() []Clock {
	high := Finding{Digest: "sha256:d1", Advisory: "CVE-2026-0001", Package: "openssl@3.0.1", Severity: severity.High, Fixed: "3.0.2", FirstSeen: h(0), FixSeen: h(0)}
	nofix := Finding{Digest: "sha256:d1", Advisory: "CVE-2026-0002", Package: "zlib@1.2", Severity: severity.Critical, FirstSeen: h(1)}
	tags := []TagPeriod{
		{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0), Until: h(50)},
		{Repo: "shop/app", Tag: "latest", Digest: "sha256:d1", Since: h(0)},
		{Repo: "shop/app", Workload: "prod ns/pod/app", Digest: "sha256:d1", Since: h(0)},
	}
	return Accumulate(h(100), []Finding{high, nofix}, tags)
}

// TestKeepRoundTrip: a repository's clocks read back as they were kept.
func TestKeepRoundTrip(t *testing.T) {
	cs := keepSample()
	got, err := decodeClocks(nil, "shop/app", encodeClocks(cs))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cs, got, cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)); d != "" {
		t.Errorf("(-kept +read):\n%s", d)
	}
}

// FuzzDecodeClocks: a damaged row is an error, never a panic, and what
// decodes encodes to a row that decodes the same.
func FuzzDecodeClocks(f *testing.F) {
	f.Add(encodeClocks(keepSample()))
	f.Add([]byte{keepVersion, 1, 3, 'a', 'b', 'c', 0, 0, 0})
	f.Add([]byte{keepVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := decodeClocks(nil, "r", b)
		if err != nil {
			return
		}
		again, err := decodeClocks(nil, "r", encodeClocks(cs))
		if err != nil {
			t.Fatalf("re-encoded clocks do not decode: %v", err)
		}
		if d := cmp.Diff(cs, again, cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)); d != "" {
			t.Fatalf("(-first +again):\n%s", d)
		}
	})
}
