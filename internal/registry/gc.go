package registry

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// GCResult says what garbage collection removed.
type GCResult struct {
	Links   int64 `json:"links"`
	Blobs   int   `json:"blobs"`
	Bytes   int64 `json:"bytes"`
	Uploads int   `json:"uploads"`
}

// CollectGarbage removes, in order: links of blobs no manifest of their
// repository references; blob files no repository holds; upload sessions
// idle longer than uploadTTL. Nothing younger than grace is touched, so a
// push in progress (its blobs uploaded, its manifest not yet) keeps its
// blobs. A blob is moved aside, checked again and only then deleted, so a
// concurrent upload of the same content is never lost.
func (h *Handler) CollectGarbage(ctx context.Context, grace, uploadTTL time.Duration) (*GCResult, error) {
	now := time.Now()
	res := &GCResult{}
	var err error
	if res.Links, err = h.Store.UnreferencedLinks(ctx, now.Add(-grace)); err != nil {
		return res, err
	}
	root := filepath.Join(h.Blobs.root, "blobs")
	trash := filepath.Join(h.Blobs.root, "trash")
	if err := os.MkdirAll(trash, 0o750); err != nil {
		return res, err
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		alg := filepath.Base(filepath.Dir(filepath.Dir(p)))
		dg, perr := ParseDigest(alg + ":" + d.Name())
		if perr != nil {
			return nil // not ours
		}
		fi, err := d.Info()
		if err != nil || now.Sub(fi.ModTime()) < grace {
			return nil
		}
		if linked, err := h.Store.BlobLinked(ctx, dg.String()); err != nil || linked {
			return err
		}
		aside := filepath.Join(trash, alg+"-"+dg.Hex)
		if err := os.Rename(p, aside); err != nil {
			return nil
		}
		if linked, err := h.Store.BlobLinked(ctx, dg.String()); err != nil || linked {
			// Linked meanwhile (a mount raced us): put it back.
			os.Rename(aside, p)
			return err
		}
		if err := os.Remove(aside); err == nil {
			res.Blobs++
			res.Bytes += fi.Size()
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	ids, err := h.Store.StaleUploads(ctx, now.Add(-uploadTTL))
	if err != nil {
		return res, err
	}
	for _, id := range ids {
		h.Blobs.Cancel(id)
		if err := h.Store.EndUpload(ctx, id); err == nil {
			res.Uploads++
		}
	}
	return res, nil
}
