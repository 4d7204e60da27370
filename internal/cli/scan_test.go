package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/vulndb"
)

// importDB makes a database from paths and returns its file.
func importDB(t *testing.T, paths ...string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "vuln.db")
	code, _, errOut := run(t, nil, append([]string{"db", "import", "--db", db}, paths...)...)
	if code != 0 {
		t.Fatalf("db import: exit %d: %s", code, errOut)
	}
	return db
}

func scanJSON(t *testing.T, wantCode int, args ...string) *report.ScanReport {
	t.Helper()
	code, out, errOut := run(t, nil, append([]string{"scan"}, append(args, "--format", "json")...)...)
	if code != wantCode {
		t.Fatalf("scan %v: exit %d, want %d: %s", args, code, wantCode, errOut)
	}
	var r report.ScanReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return &r
}

// goImage packs a Go binary built against vulnerable module versions into
// an OCI layout.
func goImage(t *testing.T) string {
	return testenv.OCILayout(t, goImageOf(t))
}

func goImageOf(t *testing.T) v1.Image { return testenv.VulnerableGoImage(t) }

// TestScanAttest scans an image in a registry with --attest: the SBOM and
// the scan result are attached to the scanned digest, signed, and verify
// with the public key; refusals come before the scan.
func TestScanAttest(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "osv", "go-vulndb"))
	host := testRegistry(t)
	ref := host + "/apps/go:1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, goImageOf(t)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ci")
	pw := map[string]string{"BULWARK_PASSWORD": "pw"}
	if code, _, errOut := run(t, pw, "key", "generate", "--output-prefix", prefix); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut := run(t, pw, "scan", "image", "--no-cache", "--db", db, "--attest", "--key", prefix+".key", "--exit-code", "3", ref)
	if code != 3 || strings.Count(errOut, "Attested "+host+"/apps/go@sha256:") != 2 {
		t.Fatalf("scan --attest: exit %d (want 3: findings gate after attesting): %s", code, errOut)
	}
	for typ, want := range map[string]string{"vuln": "GO-2021-0113", "cyclonedx": "pkg:golang/golang.org/x/text@v0.3.5"} {
		code, out, errOut := run(t, nil, "verify-attestation", ref, "--type", typ, "--key", prefix+".pub")
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("%s attestation: exit %d, %q not in it: %s", typ, code, want, errOut)
		}
	}
	// The scan attestation is dated by its scanFinishedOn.
	if code, _, errOut := run(t, nil, "verify-attestation", ref, "--type", "vuln", "--max-age", "24h", "--key", prefix+".pub"); code != 0 {
		t.Errorf("verify-attestation --type vuln --max-age 24h of a scan just made: exit %d: %s", code, errOut)
	}
	// cosign v2 (the .att tag) and v3 (the bundle referrers) read both as
	// their own vuln and cyclonedx attestations.
	for _, env := range []string{"BULWARK_COSIGN", "BULWARK_COSIGN3"} {
		t.Run(env, func(t *testing.T) {
			bin := cosignBinary(t, env)
			for _, typ := range []string{"vuln", "cyclonedx"} {
				if out, err := cosign(t, bin, dir, "", append([]string{"verify-attestation", "--key", "ci.pub", "--type", typ, "--allow-http-registry", ref}, cosignOffline(t, dir)...)...); err != nil {
					t.Errorf("cosign verify-attestation --type %s: %v\n%s", typ, err, out)
				}
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "image", "--db", db, "--attest", "--key", prefix + ".key", goImage(t)}, "not in a registry"},
		{[]string{"scan", "image", "--db", db, "--attest", ref}, "key"},
		{[]string{"scan", "image", "--db", db, "--attest", "--key", filepath.Join(dir, "none.key"), ref}, "none.key"},
	} {
		code, _, errOut := run(t, pw, tc.args...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, errOut)
		}
	}
}

// TestScanGates runs the gating paths on a real vulnerable Go binary and
// the real Go vulnerability database: findings, --exit-code, the ignore
// file (active and expired), VEX, and the output formats.
func TestScanGates(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "osv", "go-vulndb"))
	ref := goImage(t)
	dir := t.TempDir()

	r := scanJSON(t, 0, "image", "--no-cache", "--db", db, ref)
	ids := map[string]bool{}
	for _, res := range r.Results {
		if res.Package.Name == "golang.org/x/text" {
			ids[res.ID] = true
			if res.Package.Layer == nil || res.Package.Layer.Index != 0 || res.URL != "https://pkg.go.dev/vuln/"+res.ID {
				t.Errorf("%s: layer %+v url %s", res.ID, res.Package.Layer, res.URL)
			}
		}
	}
	if !ids["GO-2021-0113"] || !ids["GO-2022-1059"] || r.Failing != len(r.Results) {
		t.Fatalf("x/text v0.3.5 findings: %v, failing %d of %d", ids, r.Failing, len(r.Results))
	}

	// --exit-code gates on what remains.
	if code, _, _ := run(t, nil, "scan", "image", "--no-cache", "--db", db, "--exit-code", "3", ref); code != 3 {
		t.Errorf("--exit-code 3: exit %d", code)
	}

	// An ignore file covering every x/text finding, and an expired entry.
	var entries []string
	for id := range ids {
		entries = append(entries, fmt.Sprintf("  - id: %s\n    package: golang.org/x/text\n    reason: language tags come from our own config\n    expires: 2999-01-01\n", id))
	}
	sort.Strings(entries)
	ignore := filepath.Join(dir, "ignore.yaml")
	os.WriteFile(ignore, []byte("ignores:\n"+strings.Join(entries, "")+"  - id: CVE-2000-0001\n    reason: old\n    expires: 2001-01-01\n"), 0o644)
	r = scanJSON(t, 0, "image", "--no-cache", "--db", db, "--exit-code", "1", "--ignorefile", ignore, ref)
	for _, res := range r.Results {
		if res.Package.Name == "golang.org/x/text" && (res.Suppressed == nil || res.Suppressed.Kind != "ignore") {
			t.Errorf("%s not suppressed", res.ID)
		}
	}
	if len(r.Expired) != 1 || !strings.Contains(strings.Join(r.Warnings, "\n"), "CVE-2000-0001") {
		t.Errorf("expired entry not reported: %+v %v", r.Expired, r.Warnings)
	}

	// VEX: not_affected for one advisory keeps the justification.
	vex := filepath.Join(dir, "app.vex.json")
	os.WriteFile(vex, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex","statements":[
	  {"vulnerability":{"name":"GO-2022-1059"},"products":[{"@id":"pkg:golang/golang.org/x/text"}],
	   "status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`), 0o644)
	r = scanJSON(t, 0, "image", "--no-cache", "--db", db, "--vex", vex, ref)
	for _, res := range r.Results {
		if res.ID == "GO-2022-1059" && (res.Suppressed == nil || res.Suppressed.Reason != "vulnerable_code_not_in_execute_path") {
			t.Errorf("VEX not applied: %+v", res.Suppressed)
		}
		if res.ID == "GO-2021-0113" && res.Suppressed != nil {
			t.Errorf("VEX applied to another advisory")
		}
	}

	// SARIF and CycloneDX with vulnerabilities validate against their schemas.
	for format, schema := range map[string]string{"sarif": "sarif-schema-2.1.0.json", "cyclonedx": "bom-1.6.schema.json"} {
		code, out, errOut := run(t, nil, "scan", "image", "--no-cache", "--db", db, "--vex", vex, "--format", format, ref)
		if code != 0 {
			t.Fatalf("%s: %s", format, errOut)
		}
		testenv.ValidateJSONSchema(t, schema, []byte(out))
		if !strings.Contains(out, "GO-2021-0113") {
			t.Errorf("%s output lacks the finding", format)
		}
	}

	// Usage and input errors exit 2 and say what to do.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"scan", "image", "--db", filepath.Join(dir, "none.db"), ref}, "bulwark db import"},
		{[]string{"scan", "image", "--db", db, "--severity", "SEVERE", ref}, "unknown severity"},
		{[]string{"scan", "image", "--db", db, "--exit-code", "2", ref}, "reserved for errors"},
		{[]string{"scan", "image", "--db", db, "--ignorefile", vex, ref}, "ignore file"},
		{[]string{"scan", "image", "--db", db, "--db-max-age", "1ns", ref}, "--db-max-age"},
	} {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitError || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.msg)
		}
	}
}

// TestScanAlpineAndSBOMs scans the alpine 3.18.0 apk database as a root
// filesystem against the 3.18 secfixes, then the SBOMs bulwark writes of
// it in every format: all must give the same findings.
func TestScanAlpineAndSBOMs(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "secdb", "alpine"))
	root := alpineRoot(t)

	key := func(r *report.ScanReport) []string {
		var out []string
		for _, res := range r.Results {
			out = append(out, res.Package.Name+" "+res.Package.Version+" "+res.ID+" fixed "+strings.Join(res.Fixed, ","))
		}
		sort.Strings(out)
		return out
	}
	want := key(scanJSON(t, 0, "fs", "--db", db, root))
	if len(want) == 0 {
		t.Fatal("no findings for alpine 3.18.0")
	}
	for _, format := range []string{"json", "cyclonedx", "spdx"} {
		sb := filepath.Join(t.TempDir(), "sbom."+format)
		if code, _, errOut := run(t, nil, "sbom", "--format", format, "--output", sb, "dir:"+root); code != 0 {
			t.Fatalf("sbom %s: %s", format, errOut)
		}
		if diff := cmp.Diff(want, key(scanJSON(t, 0, "sbom", "--db", db, sb))); diff != "" {
			t.Errorf("scan of the %s SBOM differs from the filesystem scan (-fs +sbom):\n%s", format, diff)
		}
	}
}

// TestScanDebianBySourcePackage scans the Debian image with Debian OSV
// records shaped like the corpus's DSA records: advisories name source
// packages, so every binary package built from an affected source is
// reported; the expectation comes from dpkg --compare-versions.
func TestScanDebianBySourcePackage(t *testing.T) {
	dir := testenv.DebianImage(t)
	rows := readPackagesTSV(t, filepath.Join(dir, "packages.tsv"))
	recs := t.TempDir()
	type adv struct{ id, source, fixed string }
	var advs []adv
	// For a few sources: one fix after the installed version (affected),
	// one before it (fixed already).
	installed := map[string]string{}
	for _, r := range rows {
		if r.Source == r.Name {
			installed[r.Source] = r.Version
		}
	}
	for i, src := range []string{"bash", "coreutils", "util-linux", "tar"} {
		v := installed[src]
		if v == "" {
			t.Fatalf("no %s in the image", src)
		}
		advs = append(advs, adv{fmt.Sprintf("DSA-9%03d-1", i), src, v + "+deb12u99"}, adv{fmt.Sprintf("DSA-8%03d-1", i), src, "0.1-1"})
	}
	// A record naming a binary package whose source differs must not match.
	advs = append(advs, adv{"DSA-7000-1", "libc6", "99"})
	for _, a := range advs {
		rec := fmt.Sprintf(`{"id":%q,"summary":"%s - security update","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2099-%s"],
		  "affected":[{"package":{"ecosystem":"Debian:12","name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}],
		  "references":[{"type":"ADVISORY","url":"https://www.debian.org/security/"}]}`, a.id, a.source, a.id[4:8], a.source, a.fixed)
		os.WriteFile(filepath.Join(recs, a.id+".json"), []byte(rec), 0o644)
	}
	db := importDB(t, recs)
	// Advisories are about source versions (bsdutils 1:2.38.1-5 is built
	// from util-linux 2.38.1-5): dpkg-query reads them from the image.
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(dir, "rootfs", "var", "lib", "dpkg"), "-W", "-f=${Package}\t${source:Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	srcVersion := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		n, v, _ := strings.Cut(l, "\t")
		srcVersion[n] = v
	}
	var want []string
	for _, a := range advs {
		for _, r := range rows {
			if r.Source != a.source {
				continue
			}
			if exec.Command("dpkg", "--compare-versions", srcVersion[r.Name], "lt", a.fixed).Run() == nil {
				want = append(want, r.Name+" "+a.id)
			}
		}
	}
	sort.Strings(want)
	r := scanJSON(t, 0, "image", "--no-cache", "--db", db, "docker-archive:"+filepath.Join(dir, "image.docker.tar"))
	got := packageIDs(r)
	if len(want) < 4 {
		t.Fatalf("expectation too small: %v", want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-dpkg +bulwark):\n%s", diff)
	}
}

// TestScanWarnsOnOldDatabase imports advisories as of ten days ago: the
// scan runs and warns; with --db-max-age 72h it refuses.
func TestScanWarnsOnOldDatabase(t *testing.T) {
	dbFile := filepath.Join(t.TempDir(), "vuln.db")
	db, err := vulndb.Open(dbFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(context.Background(), []string{testenv.CorpusPath(t, "osv", "go-vulndb", "GO-2020-0015.json")}, time.Now().Add(-240*time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	root := t.TempDir()
	code, out, errOut := run(t, nil, "scan", "fs", "--db", dbFile, "--format", "json", root)
	if code != 0 || !strings.Contains(errOut, "last updated") || !strings.Contains(out, "findings may be missing") {
		t.Errorf("old database: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, nil, "scan", "fs", "--db", dbFile, "--db-max-age", "72h", root)
	if code != ExitError || !strings.Contains(errOut, "--db-max-age") {
		t.Errorf("--db-max-age: exit %d, %q", code, errOut)
	}
}

// TestScanSaysWhatItCouldNotJudge: alpine 3.10 against a database of
// Alpine 3.18-3.20 advisories, and an Amazon Linux 2023 rpmdb, have no
// findings, and every output format says why that is not a clean bill.
func TestScanSaysWhatItCouldNotJudge(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "secdb", "alpine"))
	alpine := "docker-archive:" + testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	r := scanJSON(t, 0, "image", "--no-cache", "--db", db, alpine)
	want := []string{"Alpine:v3.10 no-advisories 14"}
	var got []string
	for _, c := range r.Coverage {
		got = append(got, fmt.Sprintf("%s %s %d", c.Ecosystem, c.Status, c.Packages))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
	const msg = "no advisories for alpine 3.10.4 in the database"
	if !slicesContain(r.Warnings, msg) {
		t.Errorf("warnings %q lack %q", r.Warnings, msg)
	}
	for _, format := range []string{"table", "sarif", "cyclonedx"} {
		_, out, _ := run(t, nil, "scan", "image", "--no-cache", "--db", db, "--format", format, alpine)
		if !strings.Contains(out, msg) {
			t.Errorf("%s output does not say %q:\n%s", format, msg, out)
		}
	}

	// Amazon Linux 2023: rpm packages are inventoried, never matched.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "var", "lib", "rpm"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n"), 0o644)
	b, err := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "rpm", "go-rpmdb-amazonlinux2023-plain", "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "var", "lib", "rpm", "rpmdb.sqlite"), b, 0o644)
	r = scanJSON(t, 0, "fs", "--no-cache", "--db", db, root)
	if len(r.Coverage) != 1 || r.Coverage[0].Status != "unmatched" || r.Coverage[0].Ecosystem != "rpm" || r.Coverage[0].Packages == 0 {
		t.Errorf("rpm coverage: %+v", r.Coverage)
	}
	if !slicesContain(r.Warnings, "rpm packages are inventoried but not matched") {
		t.Errorf("warnings %q do not say rpm is not matched", r.Warnings)
	}
}

func slicesContain(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestDBImportOfNothing: importing an input without one advisory is an
// error naming it (exit 2), and the database's update time does not move.
func TestDBImportOfNothing(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "osv", "go-vulndb", "GO-2020-0015.json"))
	_, before, _ := run(t, nil, "db", "status", "--db", db, "-f", "json")
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	archive := testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	for _, in := range []string{empty, archive} {
		code, _, errOut := run(t, nil, "db", "import", "--db", db, in)
		if code != ExitError || !strings.Contains(errOut, in) || !strings.Contains(errOut, "no advisories") {
			t.Errorf("db import %s: exit %d: %s", in, code, errOut)
		}
	}
	if _, after, _ := run(t, nil, "db", "status", "--db", db, "-f", "json"); after != before {
		t.Errorf("db status changed:\n%s\n%s", before, after)
	}
}

// TestScanTrivyIgnore: a plain .trivyignore suppresses findings by ID.
func TestScanTrivyIgnore(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "osv", "go-vulndb"))
	ref := goImage(t)
	ignore := filepath.Join(t.TempDir(), ".trivyignore")
	os.WriteFile(ignore, []byte("# not reachable in our build\nGO-2021-0113\nGO-0000-0000\n"), 0o644)
	code, out, errOut := run(t, nil, "scan", "image", "--no-cache", "--db", db, "--ignorefile", ignore, "-f", "json", ref)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r report.ScanReport
	json.Unmarshal([]byte(out), &r)
	found := false
	for _, res := range r.Results {
		if res.ID == "GO-2021-0113" || slicesContain(res.Aliases, "GO-2021-0113") {
			found = true
			if res.Suppressed == nil || res.Suppressed.Reason != "not reachable in our build" {
				t.Errorf("GO-2021-0113 not suppressed by the .trivyignore: %+v", res.Suppressed)
			}
		}
	}
	if !found {
		t.Fatal("GO-2021-0113 not found")
	}
	if !slicesContain(r.Warnings, "GO-0000-0000") {
		t.Errorf("unused entry not warned about: %q", r.Warnings)
	}
}
