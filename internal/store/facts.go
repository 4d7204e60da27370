package store

import (
	"context"
	"encoding/json"
	"time"
)

// TaggedImage is a tagged manifest with its tags and its scan: what a
// compliance report judges, read in one query rather than three per
// image.
type TaggedImage struct {
	Repo, Digest, MediaType string
	Tags                    []string
	// ScannedAt is zero when it has no scan.
	ScannedAt time.Time
}

// TaggedImages lists every tagged manifest, by repository and digest.
func (s *Store) TaggedImages(ctx context.Context) ([]TaggedImage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.repo, t.digest, m.media_type, t.name, COALESCE(sc.scanned_at, 0)
		FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest
		LEFT JOIN scans sc ON sc.digest = t.digest
		ORDER BY t.repo, t.digest, t.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TaggedImage
	for rows.Next() {
		var repo, digest, mt, tag string
		var at int64
		if err := rows.Scan(&repo, &digest, &mt, &tag, &at); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].Repo == repo && out[n-1].Digest == digest {
			out[n-1].Tags = append(out[n-1].Tags, tag)
			continue
		}
		out = append(out, TaggedImage{Repo: repo, Digest: digest, MediaType: mt, Tags: []string{tag}, ScannedAt: unzeroMillis(at)})
	}
	return out, rows.Err()
}

// Referrer is a manifest that refers to another (OCI 1.1 subject).
type Referrer struct {
	Repo, Subject, ArtifactType string
	Annotations                 map[string]string
}

// AllReferrers lists every manifest with a subject.
func (s *Store) AllReferrers(ctx context.Context) ([]Referrer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, subject, artifact_type, annotations FROM manifests WHERE subject <> '' ORDER BY repo, subject, digest`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Referrer
	for rows.Next() {
		var r Referrer
		var ann string
		if err := rows.Scan(&r.Repo, &r.Subject, &r.ArtifactType, &ann); err != nil {
			return nil, err
		}
		if ann != "" {
			json.Unmarshal([]byte(ann), &r.Annotations) // written by PutManifest as JSON
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
