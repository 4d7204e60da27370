// Package store is bulwark's server state: registry metadata (manifests,
// tags, which repository holds which blob), the audit chain and, later,
// users, jobs and scan results. One set of migrations runs on embedded
// SQLite (the default, one file under the data directory) and on
// PostgreSQL (several replicas sharing one database).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"
)

// Dialect is the SQL flavour of the open database.
type Dialect int

// The dialects the migrations are written for.
const (
	SQLite Dialect = iota
	Postgres
)

// Store is an open database with its migrations applied. It is safe for
// concurrent use.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// where names the database in errors without its password.
	where string
	// Now is the clock every time the store writes comes from (time.Now
	// when nil); tests inject one to cross time boundaries without
	// sleeping.
	Now func() time.Time
}

// Clock is the store's time: what its rows' times are compared with
// (the injected Now in tests).
func (s *Store) Clock() time.Time { return s.now() }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens the database a URL names: postgres://… (or postgresql://…)
// for PostgreSQL, anything else is a SQLite file path. It applies the
// migrations the database lacks.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect, s.where = Postgres, redactURL(dsn)
		s.db, err = sql.Open("pgx", dsn)
	} else {
		path := strings.TrimPrefix(dsn, "sqlite://")
		s.dialect, s.where = SQLite, path
		// One writer at a time is SQLite's model; IMMEDIATE transactions
		// take the write lock up front so two writers queue on the busy
		// timeout instead of failing to upgrade a read lock.
		s.db, err = sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(30000)&_pragma=foreign_keys(ON)&_txlock=immediate")
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.where, err)
	}
	// database/sql keeps two idle connections by default: under a few
	// dozen concurrent registry clients every other query opened a new
	// one (for SQLite: its pragmas and a schema read), a quarter of the
	// server's CPU. Keep what a busy replica uses (the number open is not
	// capped: a transaction that queries beside itself must never wait on
	// the pool).
	s.db.SetMaxIdleConns(idleConns)
	s.db.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open %s: %w", s.where, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrate %s: %w", s.where, err)
	}
	return s, nil
}

// idleConns is how many connections a replica keeps open between
// requests: its request handlers' and workers' usual concurrency, well
// under PostgreSQL's default of 100 connections for a few replicas.
const idleConns = 24

// OpenDir opens the SQLite database of a data directory.
func OpenDir(ctx context.Context, dir string) (*Store, error) {
	return Open(ctx, filepath.Join(dir, "bulwark.db"))
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Where names the database for people: the SQLite file, or the
// PostgreSQL URL without its password.
func (s *Store) Where() string { return s.where }

// Dialect says which database this is.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres (unparsable URL)"
	}
	return u.Redacted()
}

// q rewrites a query written with ? placeholders for the dialect.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dialectSQL fills the few type names the dialects spell differently.
func (s *Store) dialectSQL(query string) string {
	r := map[Dialect]*strings.Replacer{
		SQLite:   strings.NewReplacer("{{SERIAL}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{BYTES}}", "BLOB"),
		Postgres: strings.NewReplacer("{{SERIAL}}", "BIGSERIAL PRIMARY KEY", "{{BYTES}}", "BYTEA"),
	}[s.dialect]
	return r.Replace(query)
}

// migrate applies, in order and each in its own transaction, the embedded
// migrations not yet recorded. Replicas starting together serialize on
// the schema_migrations table (PostgreSQL: an advisory lock).
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		version := strings.TrimSuffix(filepath.Base(n), ".sql")
		body, err := migrations.ReadFile(n)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if s.dialect == Postgres {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7210541)`); err != nil {
					return err
				}
			}
			var done int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			for _, stmt := range strings.Split(s.dialectSQL(string(body)), ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", version, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version) VALUES (?)`), version)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tx runs f in a transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// execOne runs a statement that must change a row; none changed is
// ErrNotFound.
func execOne(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ErrNotFound is returned for a missing manifest, tag or record.
var ErrNotFound = errors.New("not found")
