package compliance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

var at = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func evidence(t *testing.T) *EvidenceSet {
	t.Helper()
	var ev EvidenceSet
	if err := ev.AddChecks("testdata/checks.json"); err != nil {
		t.Fatal(err)
	}
	if err := ev.AddDockerBench("testdata/docker-bench-security.log.json"); err != nil {
		t.Fatal(err)
	}
	return &ev
}

func states(results []ControlResult) map[string]State {
	out := map[string]State{}
	for _, r := range results {
		out[r.ID] = r.State
	}
	return out
}

// TestAssess: controls fail on any failing evidence, pass on passing
// evidence alone, are not applicable when their checks judged nothing
// and manual without automated evidence.
func TestAssess(t *testing.T) {
	ev := evidence(t)
	fw, err := Load("nist-800-53")
	if err != nil {
		t.Fatal(err)
	}
	got := states(func() []ControlResult { r, _ := Assess(fw, ev); return r }())
	want := map[string]State{
		"AC-6": Fail,          // the privileged Deployment
		"SC-8": NotApplicable, // no mTLS policy object was checked
		"AU-9": NotApplicable, // nor a Docker daemon
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s = %s, want %s", id, got[id], w)
		}
	}
	mod, err := fw.WithBaseline("moderate")
	if err != nil {
		t.Fatal(err)
	}
	results, score := Assess(mod, ev)
	if len(results) != 287 || score.Manual < 250 || states(results)["AC-1"] != Manual || states(results)["AC-6"] != Fail {
		t.Errorf("moderate baseline: %d controls, %+v", len(results), score)
	}
	for _, r := range results {
		if r.ID == "SC-6" {
			t.Error("SC-6 is in no baseline")
		}
		if r.Title == "" {
			t.Errorf("%s has no title", r.ID)
		}
	}
	high, _ := fw.WithBaseline("HIGH")
	if r, _ := Assess(high, ev); len(r) != 370 {
		t.Errorf("high baseline: %d controls", len(r))
	}

	// The CIS Docker Benchmark: the benchmark's own verdicts are
	// controls, docker-bench-security's log read as is.
	cis, err := Load("cis-docker")
	if err != nil {
		t.Fatal(err)
	}
	got = states(func() []ControlResult { r, _ := Assess(cis, ev); return r }())
	// 1.2.1 is NOTE in docker-bench-security's text but INFO in its JSON
	// log, so read from that log it is not applicable (bulwark's own log
	// keeps NOTE: manual).
	for id, w := range map[string]State{"1.1.3": Fail, "3.1": Pass, "4.2": Manual, "1.2.1": NotApplicable, "2.7": NotApplicable, "5.5": Fail} { // 5.5: no container ran, but the privileged Deployment is mapped to it
		if got[id] != w {
			t.Errorf("CIS Docker %s = %s, want %s", id, got[id], w)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"unknown check", "name: Mine\ncontrols:\n  BW-NOPE-001: [X-1]\n", `unknown check "BW-NOPE-001"`},
		{"unknown key", "name: Mine\ncontrol:\n  BW-K8S-001: [X-1]\n", "control"},
		{"duplicate control", "name: Mine\ncontrols:\n  BW-K8S-001: [X-1]\n  BW-K8S-001: [X-2]\n", "BW-K8S-001"},
		{"twice in a list", "name: Mine\ncontrols:\n  BW-K8S-001: [X-1, X-1]\n", "lists control X-1 twice"},
		{"empty", "name: Mine\n", "maps no check"},
		{"no name", "controls:\n  BW-K8S-001: [X-1]\n", "no name"},
		{"not YAML", "name: [\n", "framework"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			os.WriteFile(f, []byte(tc.body), 0o644)
			_, err := LoadFile(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Load("iso-27001"); err == nil || !strings.Contains(err.Error(), "nist-800-53") {
		t.Errorf("err = %v, want the built-in list", err)
	}
	fw, _ := Load("pci-dss")
	if _, err := fw.WithBaseline("moderate"); err == nil {
		t.Error("a baseline for PCI DSS")
	}
	var ev EvidenceSet
	for _, add := range []func(string) error{ev.AddChecks, ev.AddDockerBench, ev.AddKubeBench} {
		if err := add("testdata/deploy.yaml"); err == nil {
			t.Error("a manifest read as evidence")
		}
	}
	if err := ev.AddKubeBench("testdata/docker-bench-security.log.json"); err == nil {
		t.Error("a docker-bench log read as kube-bench's")
	}
}

// TestUserFramework: a framework file of one's own, added without
// rebuilding, judges the same evidence.
func TestUserFramework(t *testing.T) {
	f := filepath.Join(t.TempDir(), "soc2.yaml")
	os.WriteFile(f, []byte("name: SOC 2\nversion: \"2017\"\ncontrols:\n  BW-K8S-004: [CC6.1]\n  BW-K8S-006: [CC6.8]\ntitles:\n  CC6.1: Logical access security\n  CC7.1: Detection of configuration changes\n"), 0o644)
	fw, err := LoadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	results, _ := Assess(fw, evidence(t))
	if d := cmp.Diff(map[string]State{"CC6.1": Fail, "CC6.8": Pass, "CC7.1": Manual}, states(results)); d != "" {
		t.Error(d)
	}
}

// TestGolden: each format, byte for byte; the same inputs give the same
// bytes.
func TestGolden(t *testing.T) {
	fw, _ := Load("cis-docker")
	writers := map[string]func(*bytes.Buffer, *Report) error{
		"report.json":       func(b *bytes.Buffer, r *Report) error { return WriteJSON(b, r) },
		"report.csv":        func(b *bytes.Buffer, r *Report) error { return WriteCSV(b, r) },
		"report.html":       func(b *bytes.Buffer, r *Report) error { return WriteHTML(b, r) },
		"report.oscal.json": func(b *bytes.Buffer, r *Report) error { return WriteOSCAL(b, r) },
	}
	for name, write := range writers {
		var a, b bytes.Buffer
		write(&a, NewReport(fw, evidence(t), at, "bulwark test"))
		write(&b, NewReport(fw, evidence(t), at, "bulwark test"))
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: two runs differ", name)
		}
		golden := filepath.Join("testdata", name)
		if *update {
			os.WriteFile(golden, a.Bytes(), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), a.String()); d != "" {
			t.Errorf("%s differs (-golden +got); go test -run TestGolden -update:\n%s", name, d)
		}
	}
}

// TestOSCALShape: the assessment-results document has the structure of
// NIST's example in the corpus: the same keys at every level bulwark
// fills, control IDs in OSCAL's form.
func TestOSCALShape(t *testing.T) {
	b, err := os.ReadFile(testenv.CorpusPath(t, "compliance/oscal/ifa_assessment-results-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	json.Unmarshal(b, &example)
	fw, _ := Load("nist-800-53")
	var out bytes.Buffer
	if err := WriteOSCAL(&out, NewReport(fw, evidence(t), at, "bulwark test")); err != nil {
		t.Fatal(err)
	}
	var ours map[string]any
	if err := json.Unmarshal(out.Bytes(), &ours); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var k []string
		for key := range v.(map[string]any) {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	sub := func(v any, path ...string) any {
		for _, p := range path {
			switch x := v.(type) {
			case map[string]any:
				v = x[p]
			case []any:
				v = x[0]
			}
		}
		return v
	}
	for _, path := range [][]string{
		{"assessment-results"}, {"assessment-results", "metadata"}, {"assessment-results", "results", "0"},
		{"assessment-results", "results", "0", "findings", "0"}, {"assessment-results", "results", "0", "findings", "0", "target"},
		{"assessment-results", "results", "0", "observations", "0"},
	} {
		exampleKeys, ourKeys := keys(sub(example, path...)), keys(sub(ours, path...))
		for _, k := range ourKeys {
			if !slices.Contains(exampleKeys, k) && k != "relevant-evidence" && k != "remarks" {
				t.Errorf("%s: key %q is not in NIST's example (%v)", strings.Join(path, "/"), k, exampleKeys)
			}
		}
		for _, must := range []string{"uuid", "title", "target", "metadata", "results", "import-ap", "status"} {
			if slices.Contains(exampleKeys, must) && !slices.Contains(ourKeys, must) {
				t.Errorf("%s: no %q", strings.Join(path, "/"), must)
			}
		}
	}
	findings := sub(ours, "assessment-results", "results", "0", "findings").([]any)
	ids := map[string]string{}
	for _, f := range findings {
		tg := f.(map[string]any)["target"].(map[string]any)
		ids[tg["target-id"].(string)] = tg["status"].(map[string]any)["state"].(string)
	}
	if ids["ac-6_obj"] != "not-satisfied" {
		t.Errorf("findings %v", ids)
	}
}

// FuzzInputs: any evidence or framework file is read or refused with an
// error, never a panic, and a refused one adds nothing.
func FuzzInputs(f *testing.F) {
	// Small seeds: the engine minimizes every new input, and a large one
	// takes it the whole fuzzing time.
	f.Add([]byte(`{"schemaVersion":"1","results":[{"checkID":"BW-K8S-001","status":"fail","object":{"kind":"Pod","name":"a","file":"x.yaml"},"line":3}]}`))
	f.Add([]byte(`{"dockerbenchsecurity":"1.6.0","tests":[{"id":"1","results":[{"id":"1.1.1","result":"WARN","items":["a"]}]}]}`))
	f.Add([]byte(`{"Controls":[{"node_type":"master","tests":[{"results":[{"test_number":"1.1.1","status":"PASS"}]}]}]}`))
	f.Add([]byte("name: x\ncontrols:\n  BW-K8S-001: [A-1]\ntitles: {A-2: t}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, add := range []func(*EvidenceSet, string, Input, []byte) error{(*EvidenceSet).addChecks, (*EvidenceSet).addDockerBench, (*EvidenceSet).addKubeBench} {
			var ev EvidenceSet
			if err := add(&ev, "fuzz", Input{}, b); err != nil && (len(ev.Inputs) != 0 || len(ev.byID) != 0) {
				t.Fatalf("a refused input added evidence: %v", err)
			}
		}
		if fw, err := parseFile("fuzz.yaml", b); err == nil {
			Assess(fw, &EvidenceSet{})
		}
	})
}

// BenchmarkReport: a NIST SP 800-53 High baseline report from one check
// report of a million results (go test -bench Report -benchtime 3x).
func BenchmarkReport(b *testing.B) {
	fw, _ := Load("nist-800-53")
	high, _ := fw.WithBaseline("high")
	var rep bytes.Buffer
	rep.WriteString(`{"schemaVersion":"1","results":[`)
	ids := []string{"BW-K8S-001", "BW-K8S-002", "BW-K8S-004", "BW-K8S-007", "BW-NET-001", "BW-DF-001", "BW-DKR-009", "BW-K8S-018"}
	for i := range 1_000_000 {
		if i > 0 {
			rep.WriteByte(',')
		}
		st := "pass"
		if i%7 == 0 {
			st = "fail"
		}
		fmt.Fprintf(&rep, `{"checkID":%q,"status":%q,"object":{"kind":"Deployment","namespace":"ns%d","name":"app%d","file":"m%d.yaml"},"line":%d,"message":"m"}`, ids[i%len(ids)], st, i%50, i, i%1000, i%300)
	}
	rep.WriteString(`]}`)
	body := rep.Bytes()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		var ev EvidenceSet
		if err := ev.addChecks("bench.json", Input{}, body); err != nil {
			b.Fatal(err)
		}
		r := NewReport(high, &ev, at, "bench")
		if err := WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTrend: earlier JSON reports of the framework make the trend, oldest
// first, with the failing controls of each; a report of another
// framework, a later or duplicate one, or a file that is no report is a
// named error.
func TestTrend(t *testing.T) {
	dir := t.TempDir()
	fw, err := Load("cis-docker")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, r *Report) string {
		var b bytes.Buffer
		if err := WriteJSON(&b, r); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		os.WriteFile(f, b.Bytes(), 0o644)
		return f
	}
	ev := evidence(t)
	older := write("older.json", NewReport(fw, &EvidenceSet{}, at.Add(-48*time.Hour), "t"))
	old := write("old.json", NewReport(fw, ev, at.Add(-24*time.Hour), "t"))
	rep := NewReport(fw, ev, at, "t")
	if err := rep.WithTrend([]string{old, older}); err != nil {
		t.Fatal(err)
	}
	var when []time.Time
	for _, p := range rep.Trend {
		when = append(when, p.Generated)
	}
	if d := cmp.Diff([]time.Time{at.Add(-48 * time.Hour), at.Add(-24 * time.Hour), at}, when); d != "" {
		t.Errorf("trend times (-want +got):\n%s", d)
	}
	if last := rep.Trend[2]; last.Score != rep.Score || len(last.Failing) != rep.Score.Fail || len(rep.Trend[0].Failing) != 0 {
		t.Errorf("trend points: %+v", rep.Trend)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, rep); err != nil || !strings.Contains(page.String(), "<h2>Trend</h2>") {
		t.Errorf("HTML without the trend: %v", err)
	}
	other, _ := Load("pci-dss")
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{write("pci.json", NewReport(other, ev, at.Add(-time.Hour), "t"))}, "a report of pci-dss, not of cis-docker"},
		{[]string{write("later.json", NewReport(fw, ev, at.Add(time.Hour), "t"))}, "not before this report"},
		{[]string{old, old}, "at the same time as"},
		{[]string{"testdata/checks.json"}, "not a bulwark compliance report"},
		{[]string{filepath.Join(dir, "missing.json")}, "no such file"},
	} {
		r := NewReport(fw, ev, at, "t")
		if err := r.WithTrend(tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.files, err, tc.want)
		}
	}
}
