// Package storetest runs a test against every database the store
// supports: a SQLite file in a temporary directory and a fresh schema of
// the PostgreSQL server BULWARK_TEST_POSTGRES names (which .ci/run
// starts and always sets, so CI never skips it).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/store"
)

// Each runs f once per database, as subtests "sqlite" and "postgres".
func Each(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, filepath.Join(t.TempDir(), "bulwark.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, PostgresDSN(t))
	})
}

// EachStore is Each with the store opened (and closed after the test).
func EachStore(t *testing.T, f func(t *testing.T, s *store.Store)) {
	Each(t, func(t *testing.T, dsn string) {
		f(t, Open(t, dsn))
	})
}

// Open opens dsn and closes it when the test ends.
func Open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresDSN creates an empty schema for the test in the server
// BULWARK_TEST_POSTGRES names and returns a URL that uses it; the schema
// is dropped when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("BULWARK_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("BULWARK_TEST_POSTGRES is not set: .ci/run starts PostgreSQL and sets it")
		}
		t.Skip("BULWARK_TEST_POSTGRES is not set (.ci/run starts PostgreSQL and sets it)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("BULWARK_TEST_POSTGRES: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs a statement on dsn's database directly, around the store:
// how tests tamper with data on purpose. Placeholders are written $1, $2.
func Exec(t testing.TB, dsn, query string, args ...any) {
	t.Helper()
	db := openRaw(t, dsn)
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Bulk runs fn in one transaction on dsn's database directly, around
// the store, and commits it: how benchmarks write a million rows, which
// as a million scans' upserts would take their whole budget. Each
// distinct query is prepared once; placeholders as for Exec.
func Bulk(t testing.TB, dsn string, fn func(exec func(query string, args ...any))) {
	t.Helper()
	db := openRaw(t, dsn)
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmts := map[string]*sql.Stmt{}
	fn(func(query string, args ...any) {
		st, ok := stmts[query]
		if !ok {
			if st, err = tx.Prepare(query); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			stmts[query] = st
		}
		if _, err := st.Exec(args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func openRaw(t testing.TB, dsn string) *sql.DB {
	driver, src := "pgx", dsn
	if !strings.HasPrefix(dsn, "postgres") {
		driver, src = "sqlite", "file:"+dsn
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// Tag stores a minimal manifest under digest and points repo:tag at it,
// as a push would: for tests of the tag history.
func Tag(t testing.TB, s *store.Store, repo, digest, tag string) {
	t.Helper()
	m := &store.Manifest{Repo: repo, Digest: digest, MediaType: "application/vnd.oci.image.manifest.v1+json", Content: []byte(`{"schemaVersion":2}`)}
	if err := s.PutManifest(context.Background(), m, tag); err != nil {
		t.Fatal(err)
	}
}
