package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditRecord is one entry of the audit trail. Detail is JSON.
type AuditRecord struct {
	Seq                                    int64
	At                                     time.Time
	Actor, Action, Object, Outcome, Detail string
	PrevHash, Hash                         string
}

// AuditCheckpoint is a signature over the chain up to Seq.
type AuditCheckpoint struct {
	Seq                  int64
	Hash                 string
	At                   time.Time
	PublicKey, Signature string
}

// AppendAudit appends records atomically: seal receives the sequence
// number and hash of the last record (0 and the anchor, or "" for an
// empty trail) and must fill Seq, PrevHash and Hash of each. Appenders
// on every replica are serialized, so the chain never forks.
func (s *Store) AppendAudit(ctx context.Context, recs []*AuditRecord, seal func(lastSeq int64, lastHash string, recs []*AuditRecord) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7210542)`); err != nil {
				return err
			}
		}
		var seq int64
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_anchor WHERE id = 1`).Scan(&seq, &hash)
			if errors.Is(err, sql.ErrNoRows) {
				seq, hash, err = 0, "", nil
			}
		}
		if err != nil {
			return err
		}
		if err := seal(seq, hash, recs); err != nil {
			return err
		}
		for _, r := range recs {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit (seq, at, actor, action, object, outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				r.Seq, r.At.UnixMilli(), r.Actor, r.Action, r.Object, r.Outcome, r.Detail, r.PrevHash, r.Hash); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditRecords calls fn for every record in sequence order.
func (s *Store) AuditRecords(ctx context.Context, fn func(*AuditRecord) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, action, object, outcome, detail, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Object, &r.Outcome, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return err
		}
		r.At = time.UnixMilli(at)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditAnchor is where the retained trail starts after pruning (0, ""
// when nothing was pruned).
func (s *Store) AuditAnchor(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_anchor WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, err
}

// LastAudit returns the newest record's sequence number and hash.
func (s *Store) LastAudit(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return s.AuditAnchor(ctx)
	}
	return seq, hash, err
}

// PutAuditCheckpoint stores a signed checkpoint.
func (s *Store) PutAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit_checkpoints (seq, hash, at, public_key, signature) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`),
		c.Seq, c.Hash, c.At.UnixMilli(), c.PublicKey, c.Signature)
	return err
}

// AuditCheckpoints returns every checkpoint in sequence order.
func (s *Store) AuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, hash, at, public_key, signature FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditCheckpoint
	for rows.Next() {
		var c AuditCheckpoint
		var at int64
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.PublicKey, &c.Signature); err != nil {
			return nil, err
		}
		c.At = time.UnixMilli(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// PruneAudit deletes the records up to and including seq and makes
// (seq, hash) the anchor the retained trail starts from, atomically.
func (s *Store) PruneAudit(ctx context.Context, seq int64, hash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM audit WHERE seq <= ?`), seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`), seq, hash)
		return err
	})
}

// AuditAfter returns up to limit records after seq, in order.
func (s *Store) AuditAfter(ctx context.Context, seq int64, limit int) ([]AuditRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(`SELECT seq, at, actor, action, object, outcome, detail, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT %d`, limit)), seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Object, &r.Outcome, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return nil, err
		}
		r.At = time.UnixMilli(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// TryLease takes or renews a named lease for holder until now+ttl: true
// when holder has it. Replicas use it so one of them does a singleton
// job (exporting the trail) at a time.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.now()
	val := fmt.Sprintf("%s|%d", holder, now.Add(ttl).UnixMilli())
	got := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, val)
			if err != nil {
				return err
			}
			err = tx.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&cur)
			got = cur == val
			return err
		}
		if err != nil {
			return err
		}
		h, exp, _ := strings.Cut(cur, "|")
		until, _ := strconv.ParseInt(exp, 10, 64)
		if cur == val || (h != holder && until > now.UnixMilli()) {
			got = cur == val
			return nil
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE settings SET value = ? WHERE name = ? AND value = ?`), val, name, cur)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		got = n == 1
		return nil
	})
	return got, err
}
