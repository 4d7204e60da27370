package server

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/store"
)

// BenchmarkGate measures the pull gate on one manifest GET: "cached" is
// the common case (the decision for this project and digest is known),
// "decide" evaluates from the store (policy, a scan of 200 findings,
// exceptions).
func BenchmarkGate(b *testing.B) {
	s, err := New(context.Background(), Config{DataDir: b.TempDir(), Database: filepath.Join(b.TempDir(), "b.db"), AdminPassword: adminPW})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	digest := "sha256:" + fmt.Sprintf("%064d", 1)
	m := &store.Manifest{Repo: "shop/app", Digest: digest, MediaType: "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json",
		Content:      []byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}]}`)}
	var fs []match.Finding
	for i := 0; i < 200; i++ {
		fs = append(fs, match.Finding{ID: fmt.Sprintf("CVE-2026-%04d", i), Severity: severity.Level(i % 4),
			Package: sbom.Package{Name: fmt.Sprintf("pkg%d", i), Version: "1.0"}, Fixed: []string{"1.1"}})
	}
	body, _ := json.Marshal(fs)
	s.store.PutScan(ctx, &store.Scan{Digest: digest, Repo: "shop/app", ScannedAt: time.Now(), Findings: string(body)})
	s.store.SetProjectPolicy(ctx, "shop", `{"blockSeverity":"critical","unscanned":"block","exceptions":[{"id":"CVE-2026-0003","reason":"r"},{"id":"CVE-2026-0007","reason":"r"}]}`, "admin")
	b.Run("cached", func(b *testing.B) {
		s.gate.check(ctx, m, false)
		for i := 0; i < b.N; i++ {
			s.gate.check(ctx, m, false)
		}
	})
	b.Run("decide", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s.gate.decide(ctx, m, time.Now())
		}
	})
}
