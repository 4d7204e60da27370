package registry

import (
	"context"
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
	// Rows carry the store's clock, blob files the filesystem's: each is
	// compared with its own, so an injected store clock cannot make a
	// just-written link look older or younger than it is.
	now, rowsNow := time.Now(), h.Store.Clock()
	res := &GCResult{}
	var err error
	if res.Links, err = h.Store.UnreferencedLinks(ctx, rowsNow.Add(-grace)); err != nil {
		return res, err
	}
	err = h.Blobs.Walk(ctx, func(dg Digest, size int64, modified time.Time) error {
		if now.Sub(modified) < grace {
			return nil
		}
		if linked, err := h.Store.BlobLinked(ctx, dg.String()); err != nil || linked {
			return err
		}
		restore, purge, err := h.Blobs.Quarantine(ctx, dg)
		if err != nil {
			return nil // gone meanwhile
		}
		if linked, err := h.Store.BlobLinked(ctx, dg.String()); err != nil || linked {
			// Linked meanwhile (a mount raced us): put it back.
			restore()
			return err
		}
		if err := purge(); err == nil {
			res.Blobs++
			res.Bytes += size
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	ids, err := h.Store.StaleUploads(ctx, rowsNow.Add(-uploadTTL))
	if err != nil {
		return res, err
	}
	for _, id := range ids {
		h.Blobs.Cancel(ctx, id)
		if err := h.Store.EndUpload(ctx, id); err == nil {
			res.Uploads++
		}
	}
	return res, nil
}
