package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"unicode/utf8"
)

// trail writes n records, one at a time, with a checkpoint every 4 and
// returns the log, its key and the store.
func trail(t *testing.T, dsn string, n int) (*Log, []ed25519.PublicKey, *store.Store) {
	t.Helper()
	st := storetest.Open(t, dsn)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	l, err := Open(context.Background(), st, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.CheckpointEvery = 4
	for i := 0; i < n; i++ {
		if err := l.Record(context.Background(), Entry{Actor: "admin", Action: ActionRegistryPush, Object: fmt.Sprintf("shop/app:%d", i), Outcome: Success, Detail: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return l, []ed25519.PublicKey{pub}, st
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string // SQL run against the database
		want   string   // in a problem
	}{
		{"intact", nil, ""},
		{"edited", []string{`UPDATE audit SET actor = 'mallory' WHERE seq = 5`}, "edited"},
		{"edited and rehashed", []string{`UPDATE audit SET outcome = 'failure', hash = 'x' WHERE seq = 5`}, "edited"},
		{"removed", []string{`DELETE FROM audit WHERE seq = 6`}, "missing"},
		{"inserted", []string{`UPDATE audit SET seq = seq + 100 WHERE seq >= 7`, `UPDATE audit SET seq = seq - 99 WHERE seq >= 107`,
			`INSERT INTO audit (seq, at, actor, action, object, outcome, detail, prev_hash, hash) VALUES (7, 0, 'mallory', 'registry.delete', 'x', 'success', '{}', 'p', 'h')`}, "link"},
		{"reordered", []string{`UPDATE audit SET seq = -1 WHERE seq = 3`, `UPDATE audit SET seq = 3 WHERE seq = 4`, `UPDATE audit SET seq = 4 WHERE seq = -1`}, "link"},
		{"tail truncated", []string{`DELETE FROM audit WHERE seq >= 9`}, "truncated"},
		{"checkpoint forged", []string{`UPDATE audit_checkpoints SET hash = 'forged' WHERE seq = 4`}, "checkpoint signature"},
		// JSON would read both byte strings as "mallory\ufffd\ufffd".
		{"edited to bytes that are not UTF-8", []string{`UPDATE audit SET actor = CAST(X'6d616c6c6f72798081' AS TEXT) WHERE seq = 5`}, "edited"},
	}
	storetest.Each(t, func(t *testing.T, dsn string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				// A fresh database per case, of the same kind as dsn.
				d := filepath.Join(t.TempDir(), "bulwark.db")
				if strings.HasPrefix(dsn, "postgres") {
					d = storetest.PostgresDSN(t)
				}
				_, keys, st := trail(t, d, 10)
				if strings.HasPrefix(dsn, "postgres") && strings.Contains(tc.name, "UTF-8") {
					t.Skip("PostgreSQL refuses to store bytes that are not UTF-8 in the first place")
				}
				for _, q := range tc.tamper {
					storetest.Exec(t, d, q)
				}
				rep, err := Verify(context.Background(), st, keys)
				if err != nil {
					t.Fatal(err)
				}
				if tc.want == "" {
					if !rep.OK() || rep.Records != 10 || rep.Checkpoints < 2 {
						t.Fatalf("intact trail: %+v", rep)
					}
					return
				}
				found := false
				for _, p := range rep.Problems {
					if strings.Contains(p.What, tc.want) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s not detected (want %q): %+v", tc.name, tc.want, rep.Problems)
				}
			})
		}
	})
}

// TestConcurrentAppends: many writers at once (group commit batches
// them) leave one contiguous, verifiable chain.
func TestConcurrentAppends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		st := storetest.Open(t, dsn)
		keyFile := filepath.Join(t.TempDir(), "audit.key")
		l, err := Open(context.Background(), st, keyFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := l.Record(context.Background(), Entry{Actor: "u", Action: ActionRegistryPull, Object: fmt.Sprint(i), Outcome: Success}); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		l.Close()
		pub, _ := LoadPublicKey(keyFile + ".pub")
		rep, err := Verify(context.Background(), st, []ed25519.PublicKey{pub})
		if err != nil || !rep.OK() || rep.Records != 64 || rep.Checkpoints == 0 {
			t.Errorf("%+v %v", rep, err)
		}
	})
}

// TestRewrittenChain: an attacker rewrites a record and recomputes every
// later hash, so the chain links; the signed checkpoints still disagree.
func TestRewrittenChain(t *testing.T) {
	d := filepath.Join(t.TempDir(), "bulwark.db")
	_, keys, st := trail(t, d, 8)
	var recs []store.AuditRecord
	st.AuditRecords(context.Background(), func(r *store.AuditRecord) error { recs = append(recs, *r); return nil })
	prev := recs[1].Hash
	for i := 2; i < len(recs); i++ {
		r := recs[i]
		if i == 2 {
			r.Actor = "mallory"
		}
		r.PrevHash = prev
		r.Hash = Hash(&r)
		prev = r.Hash
		storetest.Exec(t, d, `UPDATE audit SET actor = $1, prev_hash = $2, hash = $3 WHERE seq = $4`, r.Actor, r.PrevHash, r.Hash, r.Seq)
	}
	rep, err := Verify(context.Background(), st, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(fmt.Sprint(rep.Problems), "checkpoint") {
		t.Errorf("a rewritten chain passed: %+v", rep)
	}
	// The wrong key does not verify anything either.
	other, _, _ := ed25519.GenerateKey(nil)
	rep, _ = Verify(context.Background(), st, []ed25519.PublicKey{other})
	if rep.OK() {
		t.Error("checkpoints verified with a foreign key")
	}
}

// TestPruneKeepsMinimum: pruning under 90 days is refused; pruning older
// records keeps the rest verifiable from a signed anchor.
func TestPruneKeepsMinimum(t *testing.T) {
	d := filepath.Join(t.TempDir(), "bulwark.db")
	st := storetest.Open(t, d)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	l, err := Open(context.Background(), st, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.CheckpointEvery = 2
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		at := now.Add(-200 * 24 * time.Hour)
		if i >= 4 {
			at = now.Add(-time.Hour)
		}
		l.setClock(func() time.Time { return at })
		if err := l.Record(context.Background(), Entry{Actor: "a", Action: ActionScanResult, Object: fmt.Sprint(i), Outcome: Success}); err != nil {
			t.Fatal(err)
		}
	}
	l.setClock(func() time.Time { return now })
	if _, err := l.Prune(context.Background(), 30*24*time.Hour); err == nil || !strings.Contains(err.Error(), "90-day minimum") {
		t.Errorf("pruning at 30 days: %v", err)
	}
	n, err := l.Prune(context.Background(), MinRetention)
	if err != nil || n != 4 {
		t.Fatalf("prune: %d %v", n, err)
	}
	l.Close()
	pub, _ := LoadPublicKey(keyFile + ".pub")
	rep, err := Verify(context.Background(), st, []ed25519.PublicKey{pub})
	if err != nil || !rep.OK() || rep.Records != 2 || rep.First != 5 {
		t.Errorf("after pruning: %+v %v", rep, err)
	}
}

// TestRecordsAreCleaned: what a stranger sends is capped and made
// harmless before it is stored, hashed and exported: a 700,000-byte user
// name, line breaks that would forge a second syslog line, ESC for CEF
// consoles, bytes that are not UTF-8.
func TestRecordsAreCleaned(t *testing.T) {
	st := storetest.Open(t, filepath.Join(t.TempDir(), "b.db"))
	l, err := Open(context.Background(), st, filepath.Join(t.TempDir(), "audit.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := "eve\n<85>1 2026-12-01T00:00:00.000Z host bulwark - auth.login [bulwark@32473 actor=\"admin\" outcome=\"success\"]"
	for _, e := range []Entry{
		{Actor: strings.Repeat("A", 700000), Action: ActionAuthLogin, Object: "registry", Outcome: Failure},
		{Actor: forged, Action: ActionAuthLogin, Object: "registry", Outcome: Failure},
		{Actor: "mallory\xff\xfe", Action: ActionAuthLogin, Object: "x\x1b[2J", Outcome: Failure, Detail: map[string]any{"reason": strings.Repeat("r", 20000) + "\n"}},
	} {
		if err := l.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	var recs []store.AuditRecord
	st.AuditRecords(context.Background(), func(r *store.AuditRecord) error { recs = append(recs, *r); return nil })
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if len(recs[0].Actor) > maxActor || !strings.Contains(recs[0].Actor, "bytes cut") {
		t.Errorf("700,000-byte actor stored as %d bytes", len(recs[0].Actor))
	}
	for _, r := range recs {
		for _, f := range []string{r.Actor, r.Object, r.Detail} {
			if strings.ContainsAny(f, "\n\r\x1b") || !utf8.ValidString(f) {
				t.Errorf("stored field %q holds a control character or invalid UTF-8", f)
			}
		}
		if len(r.Detail) > maxDetail+64 {
			t.Errorf("detail of %d bytes", len(r.Detail))
		}
		for _, line := range []string{(&Syslog{}).message(&r), (&Syslog{Format: "cef"}).message(&r), CEF(&r, "1")} {
			if strings.ContainsAny(line, "\n\r\x1b") {
				t.Errorf("exported line spans lines or holds ESC: %q", line)
			}
		}
	}
	if !strings.HasPrefix(recs[1].Actor, `eve\x0a<85>1`) {
		t.Errorf("the forged line was stored as %q", recs[1].Actor)
	}
}

// FuzzExportRoundTrip: whatever a record holds, each SIEM format is one
// line, and its fields parse back to what was recorded.
func FuzzExportRoundTrip(f *testing.F) {
	f.Add("admin", "shop/app:1", "success", `{"remote":"127.0.0.1:1"}`)
	f.Add("eve\n<85>1 x", "a]\"\\=|b", "fail\x1b", "{}")
	f.Add("mallory\xff\xfe", "x\u2028y", "denied", `{"a":"\u0000"}`)
	f.Fuzz(func(t *testing.T, actor, object, outcome, detail string) {
		r := &store.AuditRecord{Seq: 7, At: time.Unix(1_800_000_000, 0), Actor: Clean(actor, maxActor), Action: "auth.login",
			Object: Clean(object, maxObject), Outcome: Clean(outcome, maxOutcome), Detail: Clean(detail, maxDetail), Hash: "h"}
		msg := (&Syslog{}).message(r)
		if strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("syslog message spans lines: %q", msg)
		}
		params := parseSD(t, msg)
		for k, want := range map[string]string{"actor": r.Actor, "object": r.Object, "outcome": r.Outcome} {
			if params[k] != want {
				t.Fatalf("syslog %s: parsed %q, recorded %q (message %q)", k, params[k], want, msg)
			}
		}
		cef := CEF(r, "1")
		if strings.ContainsAny(cef, "\n\r\x1b") {
			t.Fatalf("CEF spans lines or holds ESC: %q", cef)
		}
		ext := parseCEF(t, cef)
		for k, want := range map[string]string{"suser": r.Actor, "cs1": r.Object, "outcome": r.Outcome} {
			if got := ext[k]; got != cefExpect(want) {
				t.Fatalf("CEF %s: parsed %q, recorded %q (event %q)", k, got, want, cef)
			}
		}
	})
}

// parseSD reads the bulwark SD-ELEMENT of an RFC 5424 message back.
func parseSD(t *testing.T, msg string) map[string]string {
	i := strings.Index(msg, "[bulwark@32473 ")
	if i < 0 {
		t.Fatalf("no SD-ELEMENT in %q", msg)
	}
	out := map[string]string{}
	s := msg[i+len("[bulwark@32473 "):]
	for len(s) > 0 && s[0] != ']' {
		eq := strings.Index(s, `="`)
		name := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var v strings.Builder
		for j := 0; ; j++ {
			if s[j] == '\\' && j+1 < len(s) && strings.ContainsRune(`"\]`, rune(s[j+1])) {
				v.WriteByte(s[j+1])
				j++
				continue
			}
			if s[j] == '"' {
				s = s[j+1:]
				break
			}
			v.WriteByte(s[j])
		}
		out[name] = v.String()
		s = strings.TrimPrefix(s, " ")
	}
	return out
}

// parseCEF reads a CEF event's extension back (keys are known words).
func parseCEF(t *testing.T, ev string) map[string]string {
	parts := 0
	i := 0
	for ; i < len(ev) && parts < 7; i++ {
		if ev[i] == '\\' {
			i++
			continue
		}
		if ev[i] == '|' {
			parts++
		}
	}
	ext := ev[i:]
	out := map[string]string{}
	keys := []string{"rt", "suser", "outcome", "cs1Label", "cs1", "cn1Label", "cn1", "cs2Label", "cs2", "msg"}
	for k, key := range keys {
		start := strings.Index(ext, key+"=")
		if start < 0 {
			t.Fatalf("no %s in %q", key, ev)
		}
		v := ext[start+len(key)+1:]
		if k+1 < len(keys) {
			// Values escape "=", so " key=" can only start the next key.
			end := strings.Index(v, " "+keys[k+1]+"=")
			if end < 0 {
				t.Fatalf("no %s after %s in %q", keys[k+1], key, ev)
			}
			v = v[:end]
		}
		ext = ext[start+len(key)+1+len(v):]
		out[key] = v
	}
	return out
}

// cefExpect is a recorded value as a CEF extension carries it escaped.
func cefExpect(s string) string {
	return strings.NewReplacer(`\x0a`, `\n`, `\x0d`, `\r`, `\`, `\\`, `=`, `\=`).Replace(s)
}

// FuzzRecordEncoding: Clean always yields what the trail may hold (valid
// UTF-8, no control characters, within its cap), and the chain hash
// tells any two records whose stored bytes differ apart.
func FuzzRecordEncoding(f *testing.F) {
	f.Add("admin", "mallory\xff\xfe", 16)
	f.Add("eve\n<85>1", "eve\r\n", 3)
	f.Add(strings.Repeat("é", 300), "\x1b[2J", 256)
	f.Fuzz(func(t *testing.T, a, b string, max int) {
		if max < 32 || max > 1<<16 {
			max = 256
		}
		c := Clean(a, max)
		if !utf8.ValidString(c) || hasControl(c) || len(c) > max+32 {
			t.Fatalf("Clean(%q, %d) = %q", a, max, c)
		}
		if Clean(c, max) != c {
			t.Fatalf("Clean is not stable on %q", c)
		}
		r1 := &store.AuditRecord{Seq: 1, Actor: a, Action: "x", Object: "o", Outcome: "success", Detail: "{}", PrevHash: "p"}
		r2 := *r1
		r2.Actor = b
		if (a == b) != (Hash(r1) == Hash(&r2)) {
			t.Fatalf("actors %q and %q: hashes equal %v", a, b, Hash(r1) == Hash(&r2))
		}
	})
}
