package vulndb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver

	"bulwark.dev/bulwark/internal/sbom"
)

// DB is the local advisory database, a single SQLite file. SQLite was
// chosen over a key-value store because the (ecosystem, package) index,
// per-ecosystem counts and atomic replacement of a whole import come
// with it, and the driver is already in the binary.
type DB struct {
	db   *sql.DB
	path string
}

// schemaVersion is the database format (PRAGMA user_version).
const schemaVersion = 3

const schema = `
CREATE TABLE IF NOT EXISTS advisories (
  id TEXT PRIMARY KEY,
  modified TEXT NOT NULL,
  withdrawn INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
  ecosystem TEXT NOT NULL,
  name TEXT NOT NULL,
  id TEXT NOT NULL,
  withdrawn INTEGER NOT NULL DEFAULT 0,
  ranges BLOB NOT NULL,
  versions TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS affected_pkg ON affected(ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_id ON affected(id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT NOT NULL, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_alias ON aliases(alias);
CREATE INDEX IF NOT EXISTS aliases_id ON aliases(id);
`

// Open opens (creating if needed) the database file at path.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("vulnerability database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("vulnerability database %s: %w", path, err)
	}
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
		db.Close()
		return nil, fmt.Errorf("vulnerability database %s: %w", path, err)
	}
	if tables > 0 && version != schemaVersion && version != 2 {
		db.Close()
		return nil, fmt.Errorf("vulnerability database %s has format %d, this bulwark uses %d: delete it and import the advisories again", path, version, schemaVersion)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("vulnerability database %s: %w", path, err)
	}
	if tables > 0 && version == 2 {
		if err := indexAliases(db); err != nil {
			db.Close()
			return nil, fmt.Errorf("vulnerability database %s: upgrade to format %d: %w", path, schemaVersion, err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		db.Close()
		return nil, fmt.Errorf("vulnerability database %s: %w", path, err)
	}
	return &DB{db: db, path: path}, nil
}

// indexAliases fills the alias index of a format 2 database from the
// stored records, in one transaction.
func indexAliases(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.Query(`SELECT id, body FROM advisories`)
	if err != nil {
		return err
	}
	var pairs [][2]string
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return err
		}
		var v struct{ Aliases []string }
		if json.Unmarshal(body, &v) == nil {
			for _, a := range v.Aliases {
				pairs = append(pairs, [2]string{a, id})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range pairs {
		if _, err := tx.Exec(`INSERT INTO aliases(alias, id) VALUES(?, ?)`, p[0], p[1]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// DefaultPath is the database file under the user cache directory.
func DefaultPath() (string, error) {
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "bulwark", "vulndb", "vuln.db"), nil
}

// NormalizeName returns the form package names are indexed under: PyPI
// names as PEP 503 normalizes them, others unchanged.
func NormalizeName(ecosystem, name string) string {
	if BaseEcosystem(ecosystem) == "PyPI" {
		return sbom.NormalizePyPIName(name)
	}
	return name
}

// Writer adds records inside one transaction; nothing is visible until
// Commit, so a failed import leaves the database as it was.
type Writer struct {
	tx       *sql.Tx
	putAdv   *sql.Stmt
	delAff   *sql.Stmt
	putAff   *sql.Stmt
	delAlias *sql.Stmt
	putAlias *sql.Stmt
	written  int
}

// Begin starts an import.
func (d *DB) Begin(ctx context.Context) (*Writer, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	w := &Writer{tx: tx}
	for _, s := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&w.putAdv, `INSERT INTO advisories(id, modified, withdrawn, source, body) VALUES(?,?,?,?,?)
		  ON CONFLICT(id) DO UPDATE SET modified=excluded.modified, withdrawn=excluded.withdrawn, source=excluded.source, body=excluded.body`},
		{&w.delAff, `DELETE FROM affected WHERE id = ?`},
		{&w.putAff, `INSERT INTO affected(ecosystem, name, id, withdrawn, ranges, versions) VALUES(?,?,?,?,?,?)`},
		{&w.delAlias, `DELETE FROM aliases WHERE id = ?`},
		{&w.putAlias, `INSERT INTO aliases(alias, id) VALUES(?, ?)`},
	} {
		if *s.st, err = tx.PrepareContext(ctx, s.sql); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return w, nil
}

// Put stores one validated record; a record with the same ID replaces it.
func (w *Writer) Put(ctx context.Context, v *Vuln, source string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	withdrawn := 0
	if v.Withdrawn != "" {
		withdrawn = 1
	}
	if _, err := w.putAdv.ExecContext(ctx, v.ID, v.Modified, withdrawn, source, body); err != nil {
		return err
	}
	if _, err := w.delAff.ExecContext(ctx, v.ID); err != nil {
		return err
	}
	if _, err := w.delAlias.ExecContext(ctx, v.ID); err != nil {
		return err
	}
	for _, a := range v.Aliases {
		if _, err := w.putAlias.ExecContext(ctx, a, v.ID); err != nil {
			return err
		}
	}
	// Each package's affected entries are stored beside the index, so
	// that matching decodes only them, not whole records (Maven records
	// list hundreds of versions for other artifacts).
	byPkg := map[[2]string][]Affected{}
	var order [][2]string
	for _, a := range v.Affected {
		k := [2]string{a.Package.Ecosystem, NormalizeName(a.Package.Ecosystem, a.Package.Name)}
		if k[0] == "" || k[1] == "" {
			continue
		}
		if _, ok := byPkg[k]; !ok {
			order = append(order, k)
		}
		byPkg[k] = append(byPkg[k], a)
	}
	for _, k := range order {
		// Explicit version lists are kept as "\nv1\nv2\n" text, searched
		// without decoding; only the ranges are JSON.
		var listed strings.Builder
		entries := make([]Affected, 0, len(byPkg[k]))
		for _, a := range byPkg[k] {
			for _, ver := range a.Versions {
				listed.WriteString("\n" + ver)
			}
			// Matching reads the package and its ranges; severities and
			// ecosystem data (Go's symbol lists) come from the whole
			// record, fetched for matches only.
			entries = append(entries, Affected{Package: a.Package, Ranges: a.Ranges})
		}
		if listed.Len() > 0 {
			listed.WriteString("\n")
		}
		ranges, err := json.Marshal(entries)
		if err != nil {
			return err
		}
		if _, err := w.putAff.ExecContext(ctx, k[0], k[1], v.ID, withdrawn, ranges, listed.String()); err != nil {
			return err
		}
	}
	w.written++
	return nil
}

// Merge adds a record's affected entries to the stored record with the
// same ID, replacing entries for the same ecosystem and package. Alpine
// secdb files name advisories by CVE, one file per release and package,
// so the same ID arrives once per release and must accumulate, as in
// osv.dev's own Alpine records.
func (w *Writer) Merge(ctx context.Context, v *Vuln, source string) error {
	var body []byte
	err := w.tx.QueryRowContext(ctx, `SELECT body FROM advisories WHERE id = ?`, v.ID).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return w.Put(ctx, v, source)
	case err != nil:
		return err
	}
	var old Vuln
	if err := json.Unmarshal(body, &old); err != nil {
		return fmt.Errorf("stored record %s: %w", v.ID, err)
	}
	replaced := map[[2]string]bool{}
	for _, a := range v.Affected {
		replaced[[2]string{a.Package.Ecosystem, a.Package.Name}] = true
	}
	merged := *v
	merged.Affected = nil
	for _, a := range old.Affected {
		if !replaced[[2]string{a.Package.Ecosystem, a.Package.Name}] {
			merged.Affected = append(merged.Affected, a)
		}
	}
	merged.Affected = append(merged.Affected, v.Affected...)
	if merged.Summary == "" {
		merged.Summary = old.Summary
	}
	if len(merged.Aliases) == 0 {
		merged.Aliases = old.Aliases
	}
	return w.Put(ctx, &merged, source)
}

// DeleteSource removes every record an earlier import from source left,
// so that an update replaces a feed instead of piling on it.
func (w *Writer) DeleteSource(ctx context.Context, source string) error {
	for _, table := range []string{"affected", "aliases"} {
		if _, err := w.tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM advisories WHERE source = ?)`, source); err != nil {
			return err
		}
	}
	_, err := w.tx.ExecContext(ctx, `DELETE FROM advisories WHERE source = ?`, source)
	return err
}

// SetMeta records a key in the same transaction as the records.
func (w *Writer) SetMeta(ctx context.Context, key, value string) error {
	_, err := w.tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`, key, value)
	return err
}

// Meta returns a recorded key, or "" when it was never set.
func (d *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Commit makes the import visible and records when it happened.
func (w *Writer) Commit(now time.Time) error {
	var n int
	if err := w.tx.QueryRow(`SELECT count(*) FROM advisories`).Scan(&n); err != nil {
		w.tx.Rollback()
		return err
	}
	if err := w.SetMeta(context.Background(), "records", strconv.Itoa(n)); err != nil {
		w.tx.Rollback()
		return err
	}
	if err := w.SetMeta(context.Background(), "updated", now.UTC().Format(time.RFC3339)); err != nil {
		w.tx.Rollback()
		return err
	}
	return w.tx.Commit()
}

// Rollback abandons the import.
func (w *Writer) Rollback() error { return w.tx.Rollback() }

// Candidate is an advisory's affected entries for one package: what
// matching needs. Get fetches the whole record for the ones that match.
type Candidate struct {
	ID string
	// Affected holds the package's entries reduced to package and ranges;
	// Listed answers for their version lists.
	Affected []Affected
	versions string
}

// Listed reports whether an affected entry lists the version explicitly.
func (c *Candidate) Listed(version string) bool {
	return version != "" && strings.Contains(c.versions, "\n"+version+"\n")
}

// Candidates returns, for the package in the ecosystem, each
// non-withdrawn advisory that names it, with only that package's affected
// entries. Debian and Ubuntu records name source packages; Alpine
// records name origins.
func (d *DB) Candidates(ctx context.Context, ecosystem, name string) ([]Candidate, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, ranges, versions FROM affected
	  WHERE ecosystem = ? AND name = ? AND withdrawn = 0 ORDER BY id`, ecosystem, NormalizeName(ecosystem, name))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Candidate
	for rows.Next() {
		var c Candidate
		var raw []byte
		if err := rows.Scan(&c.ID, &raw, &c.versions); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &c.Affected); err != nil {
			return nil, fmt.Errorf("stored record %s: %w", c.ID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Get returns the whole record with the ID.
func (d *DB) Get(ctx context.Context, id string) (*Vuln, error) {
	var body []byte
	if err := d.db.QueryRowContext(ctx, `SELECT body FROM advisories WHERE id = ?`, id).Scan(&body); err != nil {
		return nil, fmt.Errorf("advisory %s: %w", id, err)
	}
	var v Vuln
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("stored record %s: %w", id, err)
	}
	return &v, nil
}

// Related returns the other records that share an ID or alias with v
// (a GO- record's CVE and GHSA records): where one record carries no CVSS
// vector, a related one often does.
func (d *DB) Related(ctx context.Context, v *Vuln) ([]*Vuln, error) {
	ids := append([]string{v.ID}, v.Aliases...)
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	args := make([]any, 0, 2*len(ids)+1)
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(append(args, args...), v.ID)
	rows, err := d.db.QueryContext(ctx, `SELECT body FROM advisories WHERE withdrawn = 0 AND (id IN (`+marks+`)
	  OR id IN (SELECT id FROM aliases WHERE alias IN (`+marks+`))) AND id <> ? ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Vuln
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var r Vuln
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("stored record: %w", err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// HasEcosystem says whether any advisory names a package of the
// ecosystem ("Alpine:v3.10", "Go"): without one, a scan cannot find
// anything there, and must say so rather than look clean.
func (d *DB) HasEcosystem(ctx context.Context, ecosystem string) (bool, error) {
	var one int
	err := d.db.QueryRowContext(ctx, `SELECT 1 FROM affected WHERE ecosystem = ? LIMIT 1`, ecosystem).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Query returns the whole non-withdrawn records that name the package.
func (d *DB) Query(ctx context.Context, ecosystem, name string) ([]*Vuln, error) {
	cs, err := d.Candidates(ctx, ecosystem, name)
	if err != nil {
		return nil, err
	}
	out := make([]*Vuln, 0, len(cs))
	for _, c := range cs {
		v, err := d.Get(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Status summarizes the database.
type Status struct {
	Path    string         `json:"path"`
	Records int            `json:"records"`
	PerEco  map[string]int `json:"ecosystems"`
	// Sources counts records per origin: "osv" (db import), "alpine-secdb",
	// "feed:<Ecosystem>" (db update).
	Sources map[string]int `json:"sources"`
	// Feeds maps each fetched feed URL to when it was fetched and its
	// SHA-256.
	Feeds   map[string]string `json:"feeds,omitempty"`
	Updated time.Time         `json:"updated,omitzero"`
}

// Info is what a scan needs to know about the database, read without
// counting anything: the record count and update time the last import
// committed.
func (d *DB) Info(ctx context.Context) (records int, updated time.Time, err error) {
	r, err := d.Meta(ctx, "records")
	if err != nil {
		return 0, time.Time{}, err
	}
	u, err := d.Meta(ctx, "updated")
	if err != nil {
		return 0, time.Time{}, err
	}
	records, _ = strconv.Atoi(r)
	updated, _ = time.Parse(time.RFC3339, u)
	return records, updated, nil
}

// Status counts records per base ecosystem.
func (d *DB) Status(ctx context.Context) (*Status, error) {
	st := &Status{Path: d.path, PerEco: map[string]int{}, Sources: map[string]int{}, Feeds: map[string]string{}}
	srows, err := d.db.QueryContext(ctx, `SELECT source, count(*) FROM advisories GROUP BY source`)
	if err != nil {
		return nil, err
	}
	for srows.Next() {
		var s string
		var n int
		if err := srows.Scan(&s, &n); err != nil {
			srows.Close()
			return nil, err
		}
		st.Sources[s] = n
	}
	srows.Close()
	frows, err := d.db.QueryContext(ctx, `SELECT key, value FROM meta WHERE key LIKE 'feed:%'`)
	if err != nil {
		return nil, err
	}
	for frows.Next() {
		var k, v string
		if err := frows.Scan(&k, &v); err != nil {
			frows.Close()
			return nil, err
		}
		var m feedMeta
		json.Unmarshal([]byte(v), &m)
		st.Feeds[strings.TrimPrefix(k, "feed:")] = "fetched " + m.Fetched + ", sha256 " + m.SHA256
	}
	frows.Close()
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM advisories`).Scan(&st.Records); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT ecosystem, count(DISTINCT id) FROM affected GROUP BY ecosystem`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			return nil, err
		}
		st.PerEco[e] += n
	}
	var updated string
	err = d.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='updated'`).Scan(&updated)
	if err == nil {
		st.Updated, _ = time.Parse(time.RFC3339, updated)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return st, rows.Err()
}
