package watch

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/internal/falco"
	"bulwark.dev/bulwark/internal/testenv"
)

// recorded reads the committed event stream: 12,642 events that
// `bulwark watch --record` wrote while Debian containers ran a shell
// workload (listing, reading docs and licences, dpkg, writes below /etc
// and /usr/local/bin, a copied binary run), with the host's execs.
func recorded(t testing.TB) []falco.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "events.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(gunzip(t, f))
	sc.Buffer(nil, 1<<20)
	var out []falco.Event
	for sc.Scan() {
		e, err := falco.DecodeEvent(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func stableRules(t testing.TB) *falco.Ruleset {
	t.Helper()
	rs, err := LoadRules([]string{testenv.CorpusPath(t, "runtime", "falco", "falco_rules.yaml")}, false)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// BenchmarkJudge is rule evaluation on the recorded stream with Falco's
// stable rules and bulwark's built-in ones loaded, alerts written.
func BenchmarkJudge(b *testing.B) {
	evs := recorded(b)
	a := &Agent{Rules: stableRules(b), Dedup: -1, PerMinute: 1 << 30}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		a.Judge(evs[n%len(evs)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplay is --replay without the file: decoding each recorded
// line into a typed event, then judging it.
func BenchmarkReplay(b *testing.B) {
	evs := recorded(b)
	lines := make([][]byte, len(evs))
	for i, e := range evs {
		lines[i], _ = json.Marshal(e)
	}
	a := &Agent{Rules: stableRules(b), Dedup: -1, PerMinute: 1 << 30}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		e, err := falco.DecodeEvent(lines[n%len(lines)])
		if err != nil {
			b.Fatal(err)
		}
		a.Judge(e)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func gunzip(t testing.TB, r io.Reader) io.Reader {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	return zr
}
