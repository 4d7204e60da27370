package compliance

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestPlatformFacts judges every fact from a real store (SQLite and
// PostgreSQL) that a test fills as bulwark serve would: an audit trail
// with its signed checkpoints, tagged images scanned or not, signed by
// a cosign .sig tag, a Sigstore bundle referrer or not at all, a
// breached patch clock, admission reviews and runtime alerts. Then it
// edits an audit record in the database and the chain fails.
func TestPlatformFacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := storetest.Open(t, dsn)
		now := time.Now().UTC()
		keyFile := filepath.Join(t.TempDir(), "audit.key")
		log, err := audit.Open(ctx, st, keyFile, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rec := func(action audit.Action, outcome audit.Outcome, detail map[string]any) {
			t.Helper()
			if err := log.Record(ctx, audit.Entry{Actor: "system", Action: action, Object: "x", Outcome: outcome, Detail: detail}); err != nil {
				t.Fatal(err)
			}
		}
		rec(audit.ActionServerStart, audit.Success, map[string]any{"audit_retention": "2160h0m0s"})
		rec(audit.ActionAdmission, audit.Success, nil)
		rec(audit.ActionAdmission, audit.Failure, nil)
		if err := log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
		pub, err := audit.LoadPublicKey(keyFile + ".pub")
		if err != nil {
			t.Fatal(err)
		}

		d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
		manifest := func(repo, digest string, tags ...string) {
			t.Helper()
			m := &store.Manifest{Repo: repo, Digest: digest, MediaType: "application/vnd.oci.image.manifest.v1+json", Content: []byte(`{"schemaVersion":2}`)}
			if err := st.PutManifest(ctx, m, tags...); err != nil {
				t.Fatal(err)
			}
		}
		scanned := func(digest string) {
			t.Helper()
			if err := st.PutScan(ctx, &store.Scan{Digest: digest, Repo: "shop/app", ScannedAt: now, Findings: "[]"}); err != nil {
				t.Fatal(err)
			}
		}
		manifest("shop/app", d("a"), "v1", "latest") // scanned, signed by a .sig tag
		scanned(d("a"))
		manifest("shop/app", d("c"), "sha256-"+strings.Repeat("a", 64)+".sig")
		manifest("shop/api", d("b"), "v2") // scanned, signed by a bundle referrer
		scanned(d("b"))
		bundle := &store.Manifest{Repo: "shop/api", Digest: d("e"), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: []byte(`{}`),
			Subject: d("b"), ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", Annotations: map[string]string{"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"}}
		if err := st.PutManifest(ctx, bundle); err != nil {
			t.Fatal(err)
		}
		manifest("dev/tool", d("f"), "edge") // neither scanned nor signed
		// An index of one scanned image: scanned, not signed.
		manifest("shop/multi", d("7"))
		scanned(d("7"))
		index := &store.Manifest{Repo: "shop/multi", Digest: d("9"), MediaType: "application/vnd.oci.image.index.v1+json", Content: []byte(`{}`), Refs: []string{d("7")}}
		if err := st.PutManifest(ctx, index, "v1"); err != nil {
			t.Fatal(err)
		}
		st.Now = func() time.Time { return now.Add(-100 * time.Hour) }
		if err := st.RecordFindings(ctx, d("f"), []store.FindingKey{{Advisory: "CVE-2026-1", Package: "openssl@3.0.1", Severity: "CRITICAL", Fixed: "3.0.2"}}); err != nil {
			t.Fatal(err)
		}
		storetest.Exec(t, dsn, `UPDATE tag_history SET since = `+strconv.FormatInt(now.Add(-100*time.Hour).UnixMilli(), 10))
		st.Now = nil
		if _, err := st.AddRuntimeEvents(ctx, []store.RuntimeEvent{
			{UUID: "u1", Received: now, At: now.Add(-time.Hour), Hostname: "node1", Rule: "Terminal shell in container", Priority: "Notice", ContainerName: "web"},
			{UUID: "u2", Received: now, At: now.Add(-time.Hour), Hostname: "node1", Rule: "Write below binary dir", Priority: "Critical", ContainerName: "web"},
		}); err != nil {
			t.Fatal(err)
		}

		judge := func(trusted ...[]byte) map[string][]string {
			t.Helper()
			var ev EvidenceSet
			p := Platform{Store: st, Where: "store", At: now.Add(time.Minute)}
			for _, k := range trusted {
				p.Trusted = append(p.Trusted, k)
			}
			if err := ev.AddPlatform(ctx, p); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for id, evs := range ev.byID {
				for _, e := range evs {
					got[id] = append(got[id], string(e.Status)+" "+e.Object)
				}
			}
			return got
		}
		want := map[string][]string{
			"BW-AUDIT-RETENTION":    {"pass audit trail"},
			"BW-AUDIT-RETENTION-1Y": {"fail audit trail"},
			"BW-AUDIT-CHAIN":        {"pass audit trail"},
			"BW-SCAN-COVERAGE":      {"fail dev/tool@" + d("f") + " (edge)", "pass registry"},
			"BW-IMAGE-SIGNED":       {"fail dev/tool@" + d("f") + " (edge)", "fail shop/multi@" + d("9") + " (v1)", "pass registry"},
			"BW-PATCH-SLA":          {"fail dev/tool"},
			"BW-ADMISSION":          {"pass admission webhook"},
			"BW-RUNTIME":            {"fail web on node1", "pass runtime watch"},
		}
		if diff := cmp.Diff(want, judge(pub)); diff != "" {
			t.Errorf("facts (-want +got):\n%s", diff)
		}
		if got := judge()["BW-AUDIT-CHAIN"]; !cmp.Equal(got, []string{"manual audit trail"}) {
			t.Errorf("no trusted key: %v, want manual", got)
		}
		// Someone with database access rewrites history.
		storetest.Exec(t, dsn, `UPDATE audit SET outcome = 'success' WHERE action = 'admission.review'`)
		if got := judge(pub)["BW-AUDIT-CHAIN"]; len(got) == 0 || !strings.HasPrefix(got[0], "fail audit record") {
			t.Errorf("edited trail: %v, want a failure at the edited record", got)
		}
	})
}
