// Package audit keeps bulwark's audit trail (DESIGN M11): every push,
// pull, delete, login, policy decision, configuration change and scan
// result, appended to a hash-chained log in the store. Checkpoints sign
// the chain's head with an Ed25519 key kept outside the database, so
// someone who can write the database cannot rewrite history unnoticed.
package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"bulwark.dev/bulwark/internal/store"
)

// MinRetention is the shortest retention allowed: PCI DSS 10.5.1 asks for
// at least three months immediately available.
const MinRetention = 90 * 24 * time.Hour

// Entry is what happened, before it is chained.
type Entry struct {
	Actor   string
	Action  Action
	Object  string // e.g. shop/app@sha256:…
	Outcome Outcome
	Detail  map[string]any
}

// Log appends entries with group commit: concurrent Record calls share
// one transaction, and each returns only once its entry is committed.
type Log struct {
	store *store.Store
	key   ed25519.PrivateKey
	log   *slog.Logger
	// CheckpointEvery signs the head after this many records.
	CheckpointEvery int64
	// Sink, when set, receives every committed record (SIEM export).
	Sink func(store.AuditRecord)

	queue   chan *pending
	done    chan struct{}
	stopped chan struct{}
	closeMu sync.Once

	// mu guards the clock and the last checkpoint, which the appender
	// and Checkpoint, Prune and Close callers share.
	mu     sync.Mutex
	lastCP int64
	now    func() time.Time
}

func (l *Log) clock() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now()
}

func (l *Log) setClock(f func() time.Time) {
	l.mu.Lock()
	l.now = f
	l.mu.Unlock()
}

func (l *Log) lastCheckpoint() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastCP
}

type pending struct {
	rec *store.AuditRecord
	err chan error
}

// Open starts the log on st, signing checkpoints with the key in keyFile
// (created, mode 0600, if missing; its public half beside it as .pub).
func Open(ctx context.Context, st *store.Store, keyFile string, logger *slog.Logger) (*Log, error) {
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{store: st, key: key, log: logger, CheckpointEvery: 1000, queue: make(chan *pending, 1024), done: make(chan struct{}), stopped: make(chan struct{}), now: time.Now}
	cps, err := st.AuditCheckpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if len(cps) > 0 {
		l.lastCP = cps[len(cps)-1].Seq
	}
	go l.run()
	return l, nil
}

// Record appends an entry and waits until it is committed.
func (l *Log) Record(ctx context.Context, e Entry) error {
	detail, err := cleanDetail(e.Detail)
	if err != nil {
		return err
	}
	p := &pending{rec: &store.AuditRecord{At: l.clock().UTC(), Actor: Clean(e.Actor, maxActor), Action: Clean(e.Action.String(), maxAction),
		Object: Clean(e.Object, maxObject), Outcome: Clean(e.Outcome.String(), maxOutcome), Detail: detail}, err: make(chan error, 1)}
	select {
	case l.queue <- p:
	case <-l.done:
		return errors.New("audit log closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.err:
		return err
	case <-l.stopped:
		select {
		case err := <-p.err:
			return err
		default:
			return errors.New("audit log closed")
		}
	case <-ctx.Done():
		// Committed or not, the appender finishes it; the caller stops
		// waiting.
		return ctx.Err()
	}
}

func (l *Log) run() {
	for {
		var batch []*pending
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		case <-l.done:
			l.drain()
			close(l.stopped)
			return
		}
	more:
		for len(batch) < 512 {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		l.commit(batch)
	}
}

func (l *Log) drain() {
	for {
		select {
		case p := <-l.queue:
			l.commit([]*pending{p})
		default:
			return
		}
	}
}

func (l *Log) commit(batch []*pending) {
	recs := make([]*store.AuditRecord, len(batch))
	for i, p := range batch {
		recs[i] = p.rec
	}
	err := l.store.AppendAudit(context.Background(), recs, func(seq int64, prev string, recs []*store.AuditRecord) error {
		for _, r := range recs {
			seq++
			r.Seq, r.PrevHash = seq, prev
			r.Hash = Hash(r)
			prev = r.Hash
		}
		return nil
	})
	for _, p := range batch {
		p.err <- err
	}
	if err != nil {
		l.log.Error("audit append failed", "records", len(batch), "err", err)
		return
	}
	if l.Sink != nil {
		for _, r := range recs {
			l.Sink(*r)
		}
	}
	if last := recs[len(recs)-1]; last.Seq-l.lastCheckpoint() >= l.CheckpointEvery {
		if err := l.checkpoint(context.Background(), last.Seq, last.Hash); err != nil {
			l.log.Error("audit checkpoint failed", "err", err)
		}
	}
}

// Hash is a record's chain hash: SHA-256 over the previous hash and the
// record's fields, JSON-encoded so no two records encode alike. JSON
// would replace bytes that are not UTF-8 (two different stored values
// would hash alike), so such a field is hashed as its exact bytes: the
// log itself never stores one (Clean), and one found in the store was
// written by someone else.
func Hash(r *store.AuditRecord) string {
	field := func(s string) any {
		if utf8.ValidString(s) {
			return s
		}
		return map[string]string{"bytes": hex.EncodeToString([]byte(s))}
	}
	fields, _ := json.Marshal([]any{strconv.FormatInt(r.Seq, 10), r.At.UnixMilli(), field(r.Actor), field(r.Action), field(r.Object), field(r.Outcome), field(r.Detail)})
	h := sha256.New()
	h.Write([]byte(r.PrevHash))
	h.Write([]byte{'\n'})
	h.Write(fields)
	return hex.EncodeToString(h.Sum(nil))
}

func checkpointMessage(seq int64, hash string) []byte {
	return []byte(fmt.Sprintf("bulwark-audit-checkpoint\n%d\n%s\n", seq, hash))
}

// Checkpoint signs the current head now (the server also does so every
// CheckpointEvery records and when it stops).
func (l *Log) Checkpoint(ctx context.Context) error {
	seq, hash, err := l.store.LastAudit(ctx)
	if err != nil || seq == 0 || seq == l.lastCheckpoint() {
		return err
	}
	return l.checkpoint(ctx, seq, hash)
}

func (l *Log) checkpoint(ctx context.Context, seq int64, hash string) error {
	sig := ed25519.Sign(l.key, checkpointMessage(seq, hash))
	pub := l.key.Public().(ed25519.PublicKey)
	err := l.store.PutAuditCheckpoint(ctx, store.AuditCheckpoint{Seq: seq, Hash: hash, At: l.clock().UTC(),
		PublicKey: base64.StdEncoding.EncodeToString(pub), Signature: base64.StdEncoding.EncodeToString(sig)})
	if err == nil {
		l.mu.Lock()
		if seq > l.lastCP {
			l.lastCP = seq
		}
		l.mu.Unlock()
	}
	return err
}

// Close commits what is queued, signs a final checkpoint and stops.
func (l *Log) Close() error {
	l.closeMu.Do(func() { close(l.done) })
	<-l.stopped
	return l.Checkpoint(context.Background())
}

// Prune deletes records older than retention (which may not be below
// MinRetention), up to the newest checkpoint among them, so the retained
// trail starts at a signed point.
func (l *Log) Prune(ctx context.Context, retention time.Duration) (int64, error) {
	if retention < MinRetention {
		return 0, fmt.Errorf("audit retention %s is below the %d-day minimum: refusing to prune", retention, int(MinRetention.Hours()/24))
	}
	cutoff := l.clock().Add(-retention)
	cps, err := l.store.AuditCheckpoints(ctx)
	if err != nil {
		return 0, err
	}
	var through *store.AuditCheckpoint
	err = l.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
		if !r.At.Before(cutoff) {
			return errStop
		}
		for i := range cps {
			if cps[i].Seq == r.Seq {
				through = &cps[i]
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	if through == nil {
		return 0, nil
	}
	anchor, _, err := l.store.AuditAnchor(ctx)
	if err != nil {
		return 0, err
	}
	if err := l.store.PruneAudit(ctx, through.Seq, through.Hash); err != nil {
		return 0, err
	}
	return through.Seq - anchor, nil
}

var errStop = errors.New("stop")

const keyPEMType = "BULWARK AUDIT SIGNING KEY"

func loadOrCreateKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: keyPEMType, Bytes: priv.Seed()})
		if err := os.WriteFile(file, out, 0o600); err != nil {
			return nil, fmt.Errorf("audit key %s: %w", file, err)
		}
		pub := pem.EncodeToMemory(&pem.Block{Type: "BULWARK AUDIT PUBLIC KEY", Bytes: priv.Public().(ed25519.PublicKey)})
		if err := os.WriteFile(file+".pub", pub, 0o644); err != nil {
			return nil, fmt.Errorf("audit key %s.pub: %w", file, err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != keyPEMType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit key %s: not a %s", file, keyPEMType)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// LoadPublicKey reads a checkpoint verification key (the .pub file).
func LoadPublicKey(file string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || len(blk.Bytes) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit public key %s: not an Ed25519 public key", file)
	}
	return ed25519.PublicKey(blk.Bytes), nil
}
