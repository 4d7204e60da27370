package watch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReplayRecorded replays the committed stream (real containers:
// two ran the same workload, as root and as uid 1000) with Falco's
// stable rules and the built-in ones. The alerts are what the live
// agent raised: drift for the copied binaries, /etc/shadow read only
// where root could open it, writes below /etc and /usr/local/bin only
// by root.
func TestReplayRecorded(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "events.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := &syncBuffer{}
	a := &Agent{Rules: stableRules(t), Out: out}
	n, alerts, err := a.Replay(context.Background(), gunzip(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if n != 12644 {
		t.Errorf("replayed %d events, want 12644", n)
	}
	var got []string
	for _, al := range out.alerts(t) {
		what := al.OutputFields["fd.name"]
		if what == nil {
			what = al.OutputFields["proc.exepath"]
		}
		got = append(got, fmt.Sprintf("%s | %s | %v", al.Rule, al.OutputFields["container.name"], what))
	}
	if len(got) != alerts {
		t.Errorf("Replay counted %d alerts, wrote %d", alerts, len(got))
	}
	sort.Strings(got)
	want := []string{
		"Drifted binary executed (bulwark) | rec-1 | /tmp/myls",
		"Drifted binary executed (bulwark) | rec-1 | /usr/local/bin/tool",
		"Drifted binary executed (bulwark) | rec-user | /tmp/myls",
		"Drop and execute new binary in container | rec-1 | /tmp/myls",
		"Drop and execute new binary in container | rec-1 | /usr/local/bin/tool",
		"Drop and execute new binary in container | rec-user | /tmp/myls",
		"Package manager in container (bulwark) | rec-1 | <nil>",
		"Package manager in container (bulwark) | rec-1 | <nil>",
		"Package manager in container (bulwark) | rec-1 | <nil>",
		"Package manager in container (bulwark) | rec-user | <nil>",
		"Package manager in container (bulwark) | rec-user | <nil>",
		"Package manager in container (bulwark) | rec-user | <nil>",
		"Read sensitive file (bulwark) | rec-1 | /etc/shadow",
		"Read sensitive file untrusted | rec-1 | /etc/pam.conf",
		"Read sensitive file untrusted | rec-1 | /etc/shadow",
		"Read sensitive file untrusted | rec-user | /etc/pam.conf",
		"Shell in container (bulwark) | rec-1 | <nil>",
		"Shell in container (bulwark) | rec-1 | <nil>",
		"Shell in container (bulwark) | rec-user | <nil>",
		"Shell in container (bulwark) | rec-user | <nil>",
		"Write below /etc (bulwark) | rec-1 | /etc/motd",
		"Write below binary directory (bulwark) | rec-1 | /usr/local/bin/tool",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("alerts (-want +got):\n%s", d)
	}
}

// TestReplayBadLines: lines that are not events are named and skipped;
// the rest is judged.
func TestReplayBadLines(t *testing.T) {
	rs, err := LoadRules(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	shell := `{"evt.type":"execve","proc.name":"bash","container.id":"c1","container.name":"web","evt.time":"2026-12-01T08:00:00Z"}`
	in := shell + "\nnot json\n\n" + `{"evt.type":"execve","proc.pid":"7"}` + "\n" + `{"evt.type":"execve","proc.name":"sh","container.id":"c2","container.name":"db"}` + "\n"
	out := &syncBuffer{}
	a := &Agent{Rules: rs, Out: out}
	n, alerts, err := a.Replay(context.Background(), bytes.NewReader([]byte(in)))
	if n != 2 || alerts != 2 {
		t.Errorf("replayed %d events with %d alerts, want 2 and 2", n, alerts)
	}
	want := `event stream: 2 lines could not be read (the first: line 2: event: invalid character 'o' in literal null (expecting 'u'))`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	als := out.alerts(t)
	if len(als) != 2 || als[0].Time.Format("15:04") != "08:00" {
		t.Errorf("alerts %+v: want two, the first at the event's own time", als)
	}
}
