package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/falco"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/watch"
)

// TestRuntimeEventsSpool: a watch agent's alerts reach the server with a
// robot token; while the server is stopped they wait in the agent's
// spool and arrive when it is back, each exactly once (a batch resent
// after a lost reply adds nothing), and each is one runtime.alert audit
// record. Both stores.
func TestRuntimeEventsSpool(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, err := New(ctx, Config{DataDir: t.TempDir(), Database: dsn, AdminPassword: adminPW, DefaultPolicy: `{"blockSeverity":"none","unscanned":"allow"}`})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		serve := func(ln net.Listener) *httptest.Server {
			hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.Handler()}}
			hs.Start()
			return hs
		}
		hs := serve(ln)
		ts := &testServer{Server: s, url: hs.URL, host: addr}

		// Who may report: a robot with "*:report", not a project robot.
		if code, body := ts.call(t, "admin", adminPW, "POST", "/api/v1/robots", `{"name":"shopbot","scopes":["shop:report"],"expiresIn":"1h"}`); code != 400 || !strings.Contains(body["error"].(string), `"*:report"`) {
			t.Errorf("a project-scoped report robot: %d %v", code, body)
		}
		code, body := ts.call(t, "admin", adminPW, "POST", "/api/v1/robots", `{"name":"node1","scopes":["*:report"],"expiresIn":"1h"}`)
		if code != 201 {
			t.Fatalf("robot: %d %v", code, body)
		}
		token := body["token"].(string)
		_, body = ts.call(t, "admin", adminPW, "POST", "/api/v1/robots", `{"name":"puller","scopes":["shop:pull"],"expiresIn":"1h"}`)
		pullToken := body["token"].(string)
		if code, body := ts.call(t, "robot$puller", pullToken, "POST", "/api/v1/runtime/events", `{"events":[]}`); code != 403 || !strings.Contains(body["error"].(string), "*:report") {
			t.Errorf("a pull robot sends events: %d %v", code, body)
		}
		if code, _ := ts.call(t, "robot$node1", token, "GET", "/api/v1/runtime/events", ""); code != 403 {
			t.Errorf("the reporting robot lists events: %d", code)
		}

		spool := t.TempDir()
		sender, err := watch.OpenSender(&watch.Sender{URL: hs.URL, User: "robot$node1", Token: token, Dir: spool})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := watch.LoadRules(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		agent := &watch.Agent{Rules: rs, Out: sender}
		shell := func(container string) {
			t.Helper()
			if n := len(agent.Judge(falco.Event{"evt.type": "execve", "proc.name": "bash", "proc.exepath": "/bin/bash", "proc.cmdline": "bash -i",
				"container.id": container + "0000", "container.name": container, "container.image.repository": "shop/app", "user.name": "root"})); n != 1 {
				t.Fatalf("%d alerts for a shell in %s, want 1", n, container)
			}
		}
		stored := func() []string {
			t.Helper()
			code, body := ts.call(t, "admin", adminPW, "GET", "/api/v1/runtime/events?rule="+strings.ReplaceAll("Shell in container (bulwark)", " ", "%20"), "")
			if code != 200 {
				t.Fatalf("list: %d %v", code, body)
			}
			var names []string
			for _, e := range body["events"].([]any) {
				names = append(names, e.(map[string]any)["output_fields"].(map[string]any)["container.name"].(string))
			}
			return names
		}

		shell("a")
		shell("b")
		if err := sender.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := stored(); len(got) != 2 {
			t.Fatalf("after the first flush the server has %v", got)
		}

		// The server stops: alerts wait in the spool.
		hs.Close()
		shell("c")
		shell("d")
		if err := sender.Flush(ctx); err == nil {
			t.Fatal("a flush to a stopped server succeeded")
		}
		if n := sender.Pending(); n != 2 {
			t.Fatalf("%d alerts spooled while the server is down, want 2", n)
		}
		// The agent restarts too: a new sender finds the spool.
		sender, err = watch.OpenSender(&watch.Sender{URL: hs.URL, User: "robot$node1", Token: token, Dir: spool})
		if err != nil {
			t.Fatal(err)
		}
		agent.Out = sender
		shell("e")

		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hs = serve(ln2)
		defer hs.Close()
		if err := sender.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := sender.Pending(); n != 0 {
			t.Errorf("%d alerts still spooled", n)
		}

		// A lost reply: the agent sends a stored batch again.
		all, err := s.store.RuntimeEvents(ctx, store.RuntimeQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			sender.Write([]byte(e.Body + "\n"))
		}
		if err := sender.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := stored()
		seen := map[string]int{}
		for _, n := range got {
			seen[n]++
		}
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			if seen[n] != 1 {
				t.Errorf("container %s: %d alerts stored, want 1 (%v)", n, seen[n], got)
			}
		}

		s.audit.Checkpoint(ctx)
		audited := map[string]int{}
		s.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
			if r.Action == audit.ActionRuntimeAlert.String() {
				var d map[string]any
				json.Unmarshal([]byte(r.Detail), &d)
				if r.Actor != "robot$node1" || d["rule"] != "Shell in container (bulwark)" {
					t.Errorf("audit record: %+v", r)
				}
				audited[r.Object]++
			}
			return nil
		})
		if len(audited) != 5 || audited["a"] != 1 || audited["e"] != 1 {
			t.Errorf("runtime.alert audit records by container: %v, want one each of a..e", audited)
		}
		if m, _ := filepath.Glob(filepath.Join(spool, "*")); len(m) != 0 {
			entries, _ := os.ReadDir(spool)
			t.Errorf("spool not empty: %v", entries)
		}

		// A line torn by a crash is skipped; a batch the server refuses is
		// kept aside, and what comes after it still goes.
		sender.Write([]byte(`{"uuid":"0b7c9e52-4c1f` + "\n"))
		if err := sender.Flush(ctx); err != nil {
			t.Fatalf("a torn line stalls the spool: %v", err)
		}
		sender.Write([]byte(`{"rule":"no uuid","time":"2026-12-01T08:00:00Z"}` + "\n"))
		if err := sender.Flush(ctx); err != nil {
			t.Fatalf("a refused batch stalls the spool: %v", err)
		}
		shell("f")
		if err := sender.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := stored(); len(got) != 6 || got[0] != "f" {
			t.Errorf("after a refused batch the server has %v, want f then a..e", got)
		}
		aside, _ := filepath.Glob(filepath.Join(spool, "rejected-*.jsonl"))
		if len(aside) != 1 {
			t.Fatalf("refused batches kept aside: %v", aside)
		}
		if b, _ := os.ReadFile(aside[0]); !strings.Contains(string(b), "no uuid") {
			t.Errorf("the refused batch holds %q", b)
		}
	})
}

// TestRuntimeEventsRefused: malformed batches are refused naming the
// event and the problem, and store nothing.
func TestRuntimeEventsRefused(t *testing.T) {
	ts := start(t, t.TempDir()+"/bulwark.db")
	good := `{"uuid":"0b7c9e52-4c1f-4f6e-9d2a-3f1b2c4d5e6f","rule":"r","priority":"Warning","time":"2026-12-01T08:00:00Z","output_fields":{"container.id":"abc"}}`
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{"events":`, "request body"},
		{"bad uuid", `{"events":[` + good + `,{"uuid":"x","rule":"r","time":"2026-12-01T08:00:00Z"}]}`, `events[1]: uuid "x"`},
		{"no rule", `{"events":[{"uuid":"0b7c9e52-4c1f-4f6e-9d2a-3f1b2c4d5e60","time":"2026-12-01T08:00:00Z"}]}`, "events[0]: rule"},
		{"no time", `{"events":[{"uuid":"0b7c9e52-4c1f-4f6e-9d2a-3f1b2c4d5e60","rule":"r"}]}`, "events[0]: time"},
		{"time not a time", `{"events":[{"uuid":"0b7c9e52-4c1f-4f6e-9d2a-3f1b2c4d5e60","rule":"r","time":"yesterday"}]}`, "events[0]"},
		{"too many", `{"events":[` + strings.Repeat(good+",", 1000) + good + `]}`, "at most 1000"},
	} {
		code, body := ts.call(t, "admin", adminPW, "POST", "/api/v1/runtime/events", tc.body)
		msg, _ := body["error"].(string)
		if code/100 != 4 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want a 4xx naming %q", tc.name, code, msg, tc.want)
		}
	}
	if evs, _ := ts.store.RuntimeEvents(context.Background(), store.RuntimeQuery{}); len(evs) != 0 {
		t.Errorf("refused batches stored %d events", len(evs))
	}
	if code, body := ts.call(t, "admin", adminPW, "POST", "/api/v1/runtime/events", `{"events":[`+good+`]}`); code != 200 || body["added"] != float64(1) {
		t.Errorf("a good event: %d %v", code, body)
	}
	if code, body := ts.call(t, "admin", adminPW, "GET", "/api/v1/runtime/events?since=yesterday", ""); code != 400 || !strings.Contains(body["error"].(string), "RFC 3339") {
		t.Errorf("bad since: %d %v", code, body)
	}
}
