package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"bulwark.dev/bulwark/internal/store"
)

// Problem is one sign of tampering, at a sequence number.
type Problem struct {
	Seq  int64  `json:"seq"`
	What string `json:"what"`
}

// Report is the outcome of verifying the trail.
type Report struct {
	Records     int64     `json:"records"`
	First       int64     `json:"first_seq"`
	Last        int64     `json:"last_seq"`
	Checkpoints int       `json:"checkpoints"`
	Problems    []Problem `json:"problems"`
}

// OK says whether the trail is intact.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify walks the whole trail: every record's hash is recomputed and
// must link to the record before it; sequence numbers must be contiguous;
// every checkpoint must be signed by one of trusted and agree with the
// chain; the trail must reach the newest checkpoint. It finds an edited,
// removed, inserted or reordered record, and a truncated tail up to the
// last checkpoint.
func Verify(ctx context.Context, st *store.Store, trusted []ed25519.PublicKey) (*Report, error) {
	return VerifyEach(ctx, st, trusted, nil)
}

// VerifyEach is Verify that also hands each record to fn (when not
// nil), for a caller that reads the trail anyway: one walk, not two.
func VerifyEach(ctx context.Context, st *store.Store, trusted []ed25519.PublicKey, fn func(*store.AuditRecord)) (*Report, error) {
	rep := &Report{}
	note := func(seq int64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{seq, fmt.Sprintf(format, args...)})
	}
	cps, err := st.AuditCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	rep.Checkpoints = len(cps)
	byseq := map[int64]store.AuditCheckpoint{}
	for _, c := range cps {
		if !signedByTrusted(c, trusted) {
			note(c.Seq, "checkpoint signature does not verify with a trusted key (forged or altered)")
			continue
		}
		byseq[c.Seq] = c
	}
	anchorSeq, anchorHash, err := st.AuditAnchor(ctx)
	if err != nil {
		return nil, err
	}
	if anchorSeq > 0 {
		if c, ok := byseq[anchorSeq]; !ok || c.Hash != anchorHash {
			note(anchorSeq, "the trail's starting point (after pruning) is not a signed checkpoint: the start was altered")
		}
	}
	prevSeq, prevHash := anchorSeq, anchorHash
	rep.First = anchorSeq + 1
	err = st.AuditRecords(ctx, func(r *store.AuditRecord) error {
		if fn != nil {
			fn(r)
		}
		rep.Records++
		switch {
		case r.Seq <= prevSeq:
			note(r.Seq, "out of order after %d", prevSeq)
		case r.Seq > prevSeq+1:
			note(r.Seq, "records %d to %d are missing (removed)", prevSeq+1, r.Seq-1)
		}
		if r.PrevHash != prevHash {
			note(r.Seq, "does not link to the record before it (a record was inserted, removed or reordered)")
		}
		if h := Hash(r); h != r.Hash {
			note(r.Seq, "content does not match its hash (edited)")
		}
		if c, ok := byseq[r.Seq]; ok && c.Hash != Hash(r) {
			note(r.Seq, "differs from what checkpoint %d signed (rewritten)", c.Seq)
		}
		prevSeq, prevHash = r.Seq, Hash(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Last = prevSeq
	if n := len(cps); n > 0 && cps[n-1].Seq > prevSeq {
		note(cps[n-1].Seq, "a checkpoint covers records up to %d but the trail ends at %d (truncated)", cps[n-1].Seq, prevSeq)
	}
	return rep, nil
}

func signedByTrusted(c store.AuditCheckpoint, trusted []ed25519.PublicKey) bool {
	pub, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return false
	}
	for _, k := range trusted {
		if bytes.Equal(k, pub) && ed25519.Verify(k, checkpointMessage(c.Seq, c.Hash), sig) {
			return true
		}
	}
	return false
}
