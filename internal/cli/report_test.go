package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestReportSLA builds a store's history as the server would (pushes
// that tag digests, scans that record findings, a tag moved to a fixed
// image), on both stores, and reads the patch clock back through the
// command at chosen times.
func TestReportSLA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		now := t0
		st := storetest.Open(t, dsn)
		st.Now = func() time.Time { return now }
		record := func(digest string, fs ...store.FindingKey) {
			if err := st.RecordFindings(ctx, digest, fs); err != nil {
				t.Fatal(err)
			}
		}
		storetest.Tag(t, st, "shop/app", "sha256:a1", "v1")
		record("sha256:a1",
			store.FindingKey{Advisory: "CVE-2026-1000", Package: "openssl@3.0.1", Severity: "HIGH", Fixed: "3.0.2"},
			store.FindingKey{Advisory: "CVE-2026-1001", Package: "zlib@1.2", Severity: "HIGH"},
			store.FindingKey{Advisory: "CVE-2026-1002", Package: "curl@8.0", Severity: "MEDIUM", Fixed: "8.1"})
		storetest.Tag(t, st, "shop/web", "sha256:w1", "v1")
		record("sha256:w1", store.FindingKey{Advisory: "CVE-2026-2000", Package: "glibc@2.36", Severity: "CRITICAL", Fixed: "2.37"})
		now = t0.Add(10 * time.Hour)
		storetest.Tag(t, st, "shop/web", "sha256:w2", "v1") // rebuilt on the fix
		record("sha256:w2")

		args := []string{"report", "sla", "--database", dsn}
		if !strings.HasPrefix(dsn, "postgres") {
			args = []string{"report", "sla", "--data", filepath.Dir(dsn)}
		}
		at := func(h int) string { return t0.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }

		code, out, errOut := run(t, nil, append(args, "--at", at(80), "--format", "json")...)
		if code != ExitFindings || !strings.Contains(errOut, "1 patch clock(s) breached") {
			t.Fatalf("at 80h: exit %d, want %d: %s", code, ExitFindings, errOut)
		}
		var rep struct {
			Clocks []struct {
				Repository, Vulnerability, State, Start, Due, Stopped string
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		got := map[string][3]string{}
		for _, c := range rep.Clocks {
			got[c.Repository+" "+c.Vulnerability] = [3]string{c.State, c.Due, c.Stopped}
		}
		want := map[string][3]string{
			"shop/app CVE-2026-1000": {"breached", at(72), ""},
			"shop/app CVE-2026-1001": {"no-fix", "", ""},
			"shop/app CVE-2026-1002": {"open", "", ""}, // medium: no deadline by default
			"shop/web CVE-2026-2000": {"met", at(72), at(10)},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("clocks at 80h (-want +got):\n%s", d)
		}
		if _, again, _ := run(t, nil, append(args, "--at", at(80), "--format", "json")...); again != out {
			t.Error("the same store and time gave different bytes")
		}
		// Now (no --at): the kept clocks, brought up to date, not the
		// whole history; the same clocks as at 80h, nothing having
		// happened since.
		code, nowOut, errOut := run(t, nil, append(args, "--format", "json")...)
		if code != ExitFindings {
			t.Fatalf("now: exit %d: %s", code, errOut)
		}
		var nowRep struct {
			Clocks []struct {
				Repository, Vulnerability, State, Start, Due, Stopped string
			}
		}
		if err := json.Unmarshal([]byte(nowOut), &nowRep); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(rep.Clocks, nowRep.Clocks); d != "" {
			t.Errorf("kept clocks now differ from computed at 80h (-computed +kept):\n%s", d)
		}

		code, out, errOut = run(t, nil, append(args, "--at", at(60))...)
		if code != 0 || !regexp.MustCompile(`(?m)^warning\s+shop/app\s+CVE-2026-1000 .* \(in 12\.0h\)`).MatchString(out) || strings.Contains(out, "CVE-2026-2000") ||
			!strings.Contains(out, "1 met") || !regexp.MustCompile(`(?m)^shop\s+CRITICAL\s+1\s+0\s+10\.0h$`).MatchString(out) {
			t.Errorf("table at 60h: exit %d\n%s%s", code, out, errOut)
		}
		code, out, _ = run(t, nil, append(args, "--at", at(80), "--format", "csv", "--sla-project", "shop:HIGH=7d")...)
		if code != 0 || !strings.Contains(out, "open,shop/app,CVE-2026-1000,openssl@3.0.1,HIGH,3.0.2,"+at(0)+","+at(168)+",,80.0,sha256:a1,v1") {
			t.Errorf("a project's own deadline: exit %d\n%s", code, out)
		}
		if code, _, errOut := run(t, nil, "report", "sla", "--data", t.TempDir()); code != ExitError || !strings.Contains(errOut, "no store there") {
			t.Errorf("a directory without a store: exit %d: %s", code, errOut)
		}
		for _, bad := range [][]string{{"--sla", "HIGH=soon"}, {"--at", "yesterday"}, {"--sla-project", "HIGH=1h"}, {"--format", "pdf"}} {
			if code, _, errOut := run(t, nil, append(args, bad...)...); code != ExitError || !strings.Contains(errOut, bad[0]) {
				t.Errorf("%v: exit %d, want %d naming the flag: %s", bad, code, ExitError, errOut)
			}
		}

		// The same store as compliance evidence: the breach fails SI-2,
		// the unscanned images RA-5; without a trusted audit key the
		// chain (AU-9) is left to a person.
		from := args[2:4]
		code, out, errOut = run(t, nil, append([]string{"report", "compliance", "--framework", "nist-800-53", "--at", at(80)}, from...)...)
		if code != 0 {
			t.Fatalf("report compliance from the store: exit %d: %s", code, errOut)
		}
		var cr struct {
			Inputs   []struct{ Kind string }
			Controls []struct {
				ID, State string
				Evidence  []struct{ ID, Object, Message string }
			}
		}
		if err := json.Unmarshal([]byte(out), &cr); err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, c := range cr.Controls {
			states[c.ID] = c.State
			if c.ID == "SI-2" && (len(c.Evidence) != 1 || c.Evidence[0].Object != "shop/app" || !strings.Contains(c.Evidence[0].Message, "CVE-2026-1000")) {
				t.Errorf("SI-2 evidence: %+v", c.Evidence)
			}
		}
		for id, want := range map[string]string{"SI-2": "fail", "RA-5": "fail", "AU-9": "manual", "AU-11": "manual"} {
			if states[id] != want {
				t.Errorf("%s: %s, want %s", id, states[id], want)
			}
		}
		if len(cr.Inputs) != 1 || cr.Inputs[0].Kind != "platform" {
			t.Errorf("inputs: %+v", cr.Inputs)
		}
		if code, _, errOut := run(t, nil, "report", "compliance", "--framework", "pci-dss", "--data", t.TempDir()); code != ExitError || !strings.Contains(errOut, "no store there") {
			t.Errorf("compliance from a directory without a store: exit %d: %s", code, errOut)
		}
	})
}
