package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Manifest is a stored manifest and what the registry needs to know about
// it without parsing it again.
type Manifest struct {
	Repo, Digest, MediaType string
	Content                 []byte
	// Subject is the digest of the manifest this one refers to (OCI 1.1).
	Subject      string
	ArtifactType string
	Annotations  map[string]string
	Created      time.Time
	// Refs are the digests it references: config, layers, child manifests.
	Refs []string
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// LinkBlob records that repo holds the blob (after an upload or a mount).
func (s *Store) LinkBlob(ctx context.Context, repo, digest string, size int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO repo_blobs (repo, digest, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (repo, digest) DO NOTHING`),
		repo, digest, size, millis(s.now()))
	if err != nil {
		return fmt.Errorf("link blob %s to %s: %w", digest, repo, err)
	}
	return nil
}

// BlobSize returns the size of a blob repo holds, or ErrNotFound.
func (s *Store) BlobSize(ctx context.Context, repo, digest string) (int64, error) {
	var size int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT size FROM repo_blobs WHERE repo = ? AND digest = ?`), repo, digest).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return size, err
}

// BlobHolders lists the repositories that hold a blob.
func (s *Store) BlobHolders(ctx context.Context, digest string) ([]string, error) {
	out, _, err := s.page(ctx, `SELECT repo FROM repo_blobs WHERE digest = ? ORDER BY repo`, []any{digest}, 0)
	return out, err
}

// UnlinkBlob removes a blob from repo; the bytes stay until garbage
// collection finds no repository holding them.
func (s *Store) UnlinkBlob(ctx context.Context, repo, digest string) error {
	return execOne(ctx, s.db, s.q(`DELETE FROM repo_blobs WHERE repo = ? AND digest = ?`), repo, digest)
}

// PutManifest stores a manifest (idempotently) and points the tags at it,
// in one transaction.
func (s *Store) PutManifest(ctx context.Context, m *Manifest, tags ...string) error {
	return s.PutManifestTags(ctx, m, tags, nil)
}

// ImmutableTagError refuses a push: an immutable tag names another
// digest already.
type ImmutableTagError struct{ Tag, Digest string }

func (e *ImmutableTagError) Error() string {
	return fmt.Sprintf("tag %s is immutable and names %s", e.Tag, e.Digest)
}

// PutManifestTags stores a manifest and points mutable tags at it and
// immutable tags too where they are unset (or already name it), in one
// transaction: when an immutable tag names another digest nothing at
// all changes (neither the manifest nor any tag) and an
// *ImmutableTagError says which. Two racing first pushes of an immutable
// tag cannot both win. Every tag change is kept in the tag history.
func (s *Store) PutManifestTags(ctx context.Context, m *Manifest, mutable, immutable []string) error {
	annotations := ""
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return err
		}
		annotations = string(b)
	}
	now := millis(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, tag := range immutable {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (repo, name) DO NOTHING`),
				m.Repo, tag, m.Digest, now); err != nil {
				return fmt.Errorf("tag %s:%s: %w", m.Repo, tag, err)
			}
			var cur string
			if err := tx.QueryRowContext(ctx, s.q(`SELECT digest FROM tags WHERE repo = ? AND name = ?`), m.Repo, tag).Scan(&cur); err != nil {
				return err
			}
			if cur != m.Digest {
				return &ImmutableTagError{Tag: tag, Digest: cur}
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO manifests (repo, digest, media_type, content, subject, artifact_type, annotations, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repo, digest) DO NOTHING`),
			m.Repo, m.Digest, m.MediaType, m.Content, m.Subject, m.ArtifactType, annotations, now)
		if err != nil {
			return fmt.Errorf("store manifest %s@%s: %w", m.Repo, m.Digest, err)
		}
		for _, r := range m.Refs {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO manifest_refs (repo, manifest, ref) VALUES (?, ?, ?) ON CONFLICT (repo, manifest, ref) DO NOTHING`), m.Repo, m.Digest, r); err != nil {
				return err
			}
		}
		for _, tag := range mutable {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (repo, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`), m.Repo, tag, m.Digest, now)
			if err != nil {
				return fmt.Errorf("tag %s:%s: %w", m.Repo, tag, err)
			}
		}
		for _, tag := range append(append([]string(nil), mutable...), immutable...) {
			if err := s.recordTag(ctx, tx, m.Repo, tag, m.Digest, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetManifest returns a manifest by digest, or ErrNotFound.
func (s *Store) GetManifest(ctx context.Context, repo, digest string) (*Manifest, error) {
	m := &Manifest{Repo: repo, Digest: digest}
	var annotations string
	var created int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT media_type, content, subject, artifact_type, annotations, created_at FROM manifests WHERE repo = ? AND digest = ?`), repo, digest).
		Scan(&m.MediaType, &m.Content, &m.Subject, &m.ArtifactType, &annotations, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m.Created = time.UnixMilli(created)
	if annotations != "" {
		if err := json.Unmarshal([]byte(annotations), &m.Annotations); err != nil {
			return nil, fmt.Errorf("manifest %s@%s: annotations: %w", repo, digest, err)
		}
	}
	return m, nil
}

// ManifestRefs lists what a stored manifest references (config, layers,
// child manifests), as it was pushed; GetManifest leaves them out, the
// pull path having no use for them.
func (s *Store) ManifestRefs(ctx context.Context, repo, digest string) ([]string, error) {
	refs, _, err := s.page(ctx, `SELECT ref FROM manifest_refs WHERE repo = ? AND manifest = ? ORDER BY ref`, []any{repo, digest}, 0)
	return refs, err
}

// ResolveTag returns the digest a tag points to, or ErrNotFound.
func (s *Store) ResolveTag(ctx context.Context, repo, tag string) (string, error) {
	var d string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT digest FROM tags WHERE repo = ? AND name = ?`), repo, tag).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return d, err
}

// DeleteManifest removes a manifest and every tag pointing to it.
func (s *Store) DeleteManifest(ctx context.Context, repo, digest string) error {
	now := millis(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, s.q(`DELETE FROM manifests WHERE repo = ? AND digest = ?`), repo, digest); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tag_history SET until_at = ? WHERE repo = ? AND digest = ? AND until_at = 0`), now, repo, digest); err != nil {
			return err
		}
		if err := s.markSLARepo(ctx, tx, repo); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM tags WHERE repo = ? AND digest = ?`, `DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), repo, digest); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTag removes a tag (not the manifest).
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	now := millis(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, s.q(`DELETE FROM tags WHERE repo = ? AND name = ?`), repo, tag); err != nil {
			return err
		}
		return s.endTag(ctx, tx, repo, tag, now)
	})
}

// Tags lists repo's tags in lexical order after last, at most n (n <= 0:
// all). more says whether tags remain after the page.
func (s *Store) Tags(ctx context.Context, repo, last string, n int) (tags []string, more bool, err error) {
	return s.page(ctx, `SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name`, []any{repo, last}, n)
}

// Repositories lists repositories holding a manifest, in lexical order
// after last, at most n.
func (s *Store) Repositories(ctx context.Context, last string, n int) (repos []string, more bool, err error) {
	return s.page(ctx, `SELECT DISTINCT repo FROM manifests WHERE repo > ? ORDER BY repo`, []any{last}, n)
}

// RepoExists says whether repo holds anything at all.
func (s *Store) RepoExists(ctx context.Context, repo string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT (SELECT COUNT(*) FROM manifests WHERE repo = ?) + (SELECT COUNT(*) FROM repo_blobs WHERE repo = ?)`), repo, repo).Scan(&n)
	return n > 0, err
}

func (s *Store) page(ctx context.Context, query string, args []any, n int) ([]string, bool, error) {
	if n > 0 {
		query += fmt.Sprintf(" LIMIT %d", n+1)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, false, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if n > 0 && len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// Referrers returns the manifests of repo whose subject is digest.
func (s *Store) Referrers(ctx context.Context, repo, digest string) ([]*Manifest, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT digest FROM manifests WHERE repo = ? AND subject = ? ORDER BY created_at, digest`), repo, digest)
	if err != nil {
		return nil, err
	}
	var digests []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, err
		}
		digests = append(digests, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, d := range digests {
		m, err := s.GetManifest(ctx, repo, d)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// StartUpload records an upload session so garbage collection spares it.
func (s *Store) StartUpload(ctx context.Context, id, repo string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO uploads (id, repo, started_at) VALUES (?, ?, ?)`), id, repo, millis(s.now()))
	return err
}

// UploadRepo returns the repository of an upload session, or ErrNotFound.
func (s *Store) UploadRepo(ctx context.Context, id string) (string, error) {
	var repo string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT repo FROM uploads WHERE id = ?`), id).Scan(&repo)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return repo, err
}

// EndUpload forgets an upload session (completed or cancelled).
func (s *Store) EndUpload(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM uploads WHERE id = ?`), id)
	return err
}

// Tag is a tag with its times, for retention.
type Tag struct {
	Repo, Name, Digest string
	Updated, Pulled    time.Time
}

// ProjectTags lists every tag of every repository of a project (the
// repositories named project or project/…).
func (s *Store) ProjectTags(ctx context.Context, project string) ([]Tag, error) {
	// An exact prefix comparison: LIKE would read the "_" of a project
	// named a_b as a wildcard and reach a-b/ and axb/.
	prefix := project + "/"
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT repo, name, digest, updated_at, pulled_at FROM tags WHERE repo = ? OR substr(repo, 1, ?) = ? ORDER BY repo, updated_at DESC, name`), project, len(prefix), prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var t Tag
		var up, pu int64
		if err := rows.Scan(&t.Repo, &t.Name, &t.Digest, &up, &pu); err != nil {
			return nil, err
		}
		t.Updated = time.UnixMilli(up)
		if pu > 0 {
			t.Pulled = time.UnixMilli(pu)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchTag records a pull through a tag.
func (s *Store) TouchTag(ctx context.Context, repo, tag string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE tags SET pulled_at = ? WHERE repo = ? AND name = ?`), millis(at), repo, tag)
	return err
}

// TagsOf lists the tags pointing at a digest.
func (s *Store) TagsOf(ctx context.Context, repo, digest string) ([]string, error) {
	out, _, err := s.page(ctx, `SELECT name FROM tags WHERE repo = ? AND digest = ? ORDER BY name`, []any{repo, digest}, 0)
	return out, err
}

// UnreferencedLinks removes the links of blobs no manifest of their
// repository references, linked before cutoff (younger ones may belong
// to a push in progress whose manifest is not there yet). It returns how
// many it removed.
func (s *Store) UnreferencedLinks(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM repo_blobs WHERE created_at < ? AND NOT EXISTS
		(SELECT 1 FROM manifest_refs r WHERE r.repo = repo_blobs.repo AND r.ref = repo_blobs.digest)`), millis(cutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// BlobLinked says whether any repository holds a blob.
func (s *Store) BlobLinked(ctx context.Context, digest string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM repo_blobs WHERE digest = ?`), digest).Scan(&n)
	return n > 0, err
}

// StaleUploads lists upload sessions started before cutoff.
func (s *Store) StaleUploads(ctx context.Context, cutoff time.Time) ([]string, error) {
	out, _, err := s.page(ctx, `SELECT id FROM uploads WHERE started_at < ?`, []any{millis(cutoff)}, 0)
	return out, err
}

// Referenced says whether another manifest of repo (an index) lists
// digest.
func (s *Store) Referenced(ctx context.Context, repo, digest string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM manifest_refs WHERE repo = ? AND ref = ?`), repo, digest).Scan(&n)
	return n > 0, err
}

// Projects lists every project.
func (s *Store) Projects(ctx context.Context) ([]string, error) {
	out, _, err := s.page(ctx, `SELECT name FROM projects WHERE name > ? ORDER BY name`, []any{""}, 0)
	return out, err
}

// ManifestsUsing returns the manifests of repo that list digest (as
// config or layer), for gating blob reads by the images they belong to.
func (s *Store) ManifestsUsing(ctx context.Context, repo, digest string) ([]*Manifest, error) {
	ds, _, err := s.page(ctx, `SELECT manifest FROM manifest_refs WHERE repo = ? AND ref = ? ORDER BY manifest`, []any{repo, digest}, 0)
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, d := range ds {
		m, err := s.GetManifest(ctx, repo, d)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
