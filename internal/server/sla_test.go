package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestSLANotices: the hourly check announces a clock's warning and its
// breach in the audit trail once each, however often it runs and on
// however many replicas, and says nothing of a clock that stopped.
func TestSLANotices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		ts := start(t, dsn)
		t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		now := t0
		ts.store.Now = func() time.Time { return now }
		storetest.Tag(t, ts.store, "shop/app", "sha256:a1", "v1")
		storetest.Tag(t, ts.store, "shop/web", "sha256:w1", "v1")
		for _, d := range []string{"sha256:a1", "sha256:w1"} {
			if err := ts.store.RecordFindings(ctx, d, []store.FindingKey{{Advisory: "CVE-2026-1000", Package: "openssl@3.0.1", Severity: "CRITICAL", Fixed: "3.0.2"}}); err != nil {
				t.Fatal(err)
			}
		}
		now = t0.Add(5 * time.Hour)
		storetest.Tag(t, ts.store, "shop/web", "sha256:w2", "v1") // fixed in time: never announced
		for _, step := range []struct {
			at   time.Duration
			want int
		}{{10 * time.Hour, 0}, {60 * time.Hour, 1}, {61 * time.Hour, 0}, {73 * time.Hour, 1}, {90 * time.Hour, 0}} {
			n, err := ts.CheckSLA(ctx, t0.Add(step.at))
			if err != nil || n != step.want {
				t.Errorf("at %s: %d notices, %v; want %d", step.at, n, err, step.want)
			}
		}
		var got []string
		ts.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
			if strings.HasPrefix(r.Action, "sla.") {
				got = append(got, r.Action+" "+r.Object+" "+r.Outcome)
				if !strings.Contains(r.Detail, `"vulnerability":"CVE-2026-1000"`) || !strings.Contains(r.Detail, `"due":"2026-11-05T09:00:00Z"`) {
					t.Errorf("notice without its evidence: %s", r.Detail)
				}
			}
			return nil
		})
		if strings.Join(got, "; ") != "sla.warning shop/app success; sla.breach shop/app failure" {
			t.Errorf("audit notices: %v", got)
		}
		if strings.HasPrefix(dsn, "postgres") {
			// A second replica on the same store announces nothing again.
			other := start(t, dsn)
			if n, err := other.CheckSLA(ctx, t0.Add(100*time.Hour)); err != nil || n != 0 {
				t.Errorf("second replica: %d notices, %v", n, err)
			}
		}
	})
}

// TestSLABreachWebhook: a chat webhook subscribed to sla.breach hears of
// a breach once, as one {"text"} message with the clock's evidence, and
// of nothing else the audit trail records; a second check adds nothing.
func TestSLABreachWebhook(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON {text}", http.StatusBadRequest)
			return
		}
		mu.Lock()
		texts = append(texts, m.Text)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	target := SIEMTarget{Name: "oncall", HTTP: hook.URL, Format: "chat", Actions: []string{"sla.breach"}}
	if err := target.check(); err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "b.db"), AdminPassword: adminPW, SIEM: []SIEMTarget{target}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	s.store.Now = func() time.Time { return t0 }
	storetest.Tag(t, s.store, "shop/app", "sha256:a1", "v1")
	if err := s.store.RecordFindings(ctx, "sha256:a1", []store.FindingKey{{Advisory: "CVE-2026-1000", Package: "openssl@3.0.1", Severity: "CRITICAL", Fixed: "3.0.2"}}); err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	for _, at := range []time.Duration{60 * time.Hour, 73 * time.Hour, 80 * time.Hour} {
		if _, err := s.CheckSLA(ctx, t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	last, _, _ := s.store.LastAudit(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, _ := s.store.Setting(ctx, "audit.export.oncall.cursor")
		if cur == fmt.Sprint(last) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(texts) != 1 || !strings.HasPrefix(texts[0], "bulwark sla.breach: shop/app failure") || !strings.Contains(texts[0], `vulnerability="CVE-2026-1000"`) || !strings.Contains(texts[0], `due="2026-11-05T09:00:00Z"`) {
		t.Errorf("webhook messages: %q; want the breach once", texts)
	}
	for _, bad := range []SIEMTarget{
		{Name: "x", HTTP: hook.URL, Actions: []string{"sla.breached"}},
		{Name: "x", HTTP: hook.URL, Format: "cef"},
		{Name: "x", Syslog: "127.0.0.1:514", Format: "chat"},
	} {
		if err := bad.check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestSLAAPI: GET /api/v1/sla serves the clocks now, every project's to
// an administrator, one project's to who may pull from it, nothing to
// anyone else; ?state filters.
func TestSLAAPI(t *testing.T) {
	ctx := context.Background()
	ts := start(t, filepath.Join(t.TempDir(), "b.db"))
	t0 := time.Now().Add(-100 * time.Hour)
	ts.store.Now = func() time.Time { return t0 }
	crit := []store.FindingKey{{Advisory: "CVE-2026-1000", Package: "openssl@3.0.1", Severity: "CRITICAL", Fixed: "3.0.2"}}
	for _, r := range []struct{ repo, digest string }{{"shop/app", "sha256:a1"}, {"dev/tool", "sha256:b1"}} {
		storetest.Tag(t, ts.store, r.repo, r.digest, "v1")
		if err := ts.store.RecordFindings(ctx, r.digest, crit); err != nil {
			t.Fatal(err)
		}
	}
	ts.store.Now = nil
	ts.user(t, "reader", "reader-password", "shop", "guest")
	ts.user(t, "nobody", "nobody-password", "", "")
	repos := func(body map[string]any) []string {
		var out []string
		cs, _ := body["clocks"].([]any)
		for _, c := range cs {
			m := c.(map[string]any)
			out = append(out, m["repository"].(string)+" "+m["state"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		user, pw, query string
		code            int
		want            []string
	}{
		{"admin", adminPW, "", 200, []string{"dev/tool breached", "shop/app breached"}},
		{"admin", adminPW, "?state=open", 200, nil},
		{"reader", "reader-password", "?project=shop", 200, []string{"shop/app breached"}},
		{"reader", "reader-password", "?project=dev", 403, nil},
		{"reader", "reader-password", "", 403, nil},
		{"nobody", "nobody-password", "?project=shop", 403, nil},
		{"", "", "", 401, nil},
		{"admin", adminPW, "?state=late,bogus", 400, nil},
		{"admin", adminPW, "?project=../x", 400, nil},
	} {
		code, body := ts.call(t, tc.user, tc.pw, "GET", "/api/v1/sla"+tc.query, "")
		if code != tc.code || (code == 200 && !cmp.Equal(repos(body), tc.want)) {
			t.Errorf("%s %s: %d %v; want %d %v", tc.user, tc.query, code, repos(body), tc.code, tc.want)
		}
	}
}
