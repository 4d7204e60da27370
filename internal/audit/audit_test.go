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
		if err := l.Record(context.Background(), Entry{Actor: "admin", Action: "registry.push", Object: fmt.Sprintf("shop/app:%d", i), Outcome: "success", Detail: map[string]any{"i": i}}); err != nil {
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
				if err := l.Record(context.Background(), Entry{Actor: "u", Action: "registry.pull", Object: fmt.Sprint(i), Outcome: "success"}); err != nil {
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
		if err := l.Record(context.Background(), Entry{Actor: "a", Action: "x", Object: fmt.Sprint(i), Outcome: "success"}); err != nil {
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
