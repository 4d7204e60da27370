package watch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sender delivers alerts to a bulwark server (POST
// /api/v1/runtime/events). Every alert is written to a spool directory
// before it is sent and removed only once the server has stored it, so
// nothing is lost while the server is unreachable or the agent restarts;
// the server stores each alert once by its UUID, so a batch resent after
// a lost reply adds nothing twice.
type Sender struct {
	URL, User, Token string
	// Dir is the spool: current.jsonl takes new alerts; batch-N.jsonl
	// are closed batches waiting to be sent, oldest first.
	Dir    string
	Client *http.Client
	Log    *slog.Logger
	// MaxBytes caps the spool (default 256 MiB): past it new alerts are
	// counted and dropped, and the count is logged.
	MaxBytes int64
	// Interval is how often the spool is sent (default 2s).
	Interval time.Duration

	mu      sync.Mutex
	cur     *os.File
	curN    int64
	spooled int64 // bytes in closed batches
	dropped int
	seq     int64
}

// sendBatch is how many alerts go in one request (the server takes up
// to 1000).
const sendBatch = 500

// OpenSender checks the spool directory (made 0700: alerts carry command
// lines) and counts what an earlier run left in it.
func OpenSender(s *Sender) (*Sender, error) {
	if s.URL == "" {
		return nil, errors.New("watch: a server URL is needed to send alerts")
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", s.Dir, err)
	}
	batches, err := s.batches()
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		if fi, err := os.Stat(b); err == nil {
			s.spooled += fi.Size()
		}
	}
	// What the last run was writing when it stopped is a batch now.
	if fi, err := os.Stat(filepath.Join(s.Dir, "current.jsonl")); err == nil && fi.Size() > 0 {
		s.spooled += fi.Size()
		if err := s.rotateFile(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Sender) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Write spools one or more alert lines (the agent's Out).
func (s *Sender) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := s.MaxBytes
	if limit == 0 {
		limit = 256 << 20
	}
	if s.spooled+s.curN+int64(len(p)) > limit {
		s.dropped += bytes.Count(p, []byte{'\n'})
		return len(p), nil
	}
	if s.cur == nil {
		f, err := os.OpenFile(filepath.Join(s.Dir, "current.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.cur = f
	}
	n, err := s.cur.Write(p)
	s.curN += int64(n)
	if err != nil {
		return n, fmt.Errorf("spool: %w", err)
	}
	return n, nil
}

// rotate closes current.jsonl as the next batch.
func (s *Sender) rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	err := s.cur.Sync()
	s.cur.Close()
	s.cur = nil
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.spooled += s.curN
	s.curN = 0
	return s.rotateFile()
}

func (s *Sender) rotateFile() error {
	// Names sort in the order written, across restarts.
	s.seq = max(s.seq+1, time.Now().UnixNano())
	name := filepath.Join(s.Dir, fmt.Sprintf("batch-%020d.jsonl", s.seq))
	if err := os.Rename(filepath.Join(s.Dir, "current.jsonl"), name); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func (s *Sender) batches() ([]string, error) {
	m, err := filepath.Glob(filepath.Join(s.Dir, "batch-*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(m)
	return m, nil
}

// Pending is how many alerts wait in the spool.
func (s *Sender) Pending() int {
	s.mu.Lock()
	if s.cur != nil {
		s.cur.Sync()
	}
	s.mu.Unlock()
	n := 0
	files, _ := s.batches()
	files = append(files, filepath.Join(s.Dir, "current.jsonl"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			n += bytes.Count(b, []byte{'\n'})
		}
	}
	return n
}

// Run sends the spool until ctx ends, backing off while the server is
// unreachable; at the end it tries once more, briefly, and leaves what
// is still unsent in the spool for the next run.
func (s *Sender) Run(ctx context.Context) {
	every := s.Interval
	if every == 0 {
		every = 2 * time.Second
	}
	wait := every
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			if err := s.Flush(fctx); err != nil {
				s.log().Warn("alerts left in the spool for the next run", "spool", s.Dir, "pending", s.Pending(), "err", err)
			}
			cancel()
			s.mu.Lock()
			if s.cur != nil {
				s.cur.Close()
				s.cur = nil
			}
			s.mu.Unlock()
			return
		case <-time.After(wait):
		}
		if err := s.Flush(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			wait = min(wait*2, 30*time.Second)
			s.log().Warn("cannot send alerts to the server; they stay in the spool", "server", s.URL, "pending", s.Pending(), "retry_in", wait, "err", err)
			continue
		}
		wait = every
	}
}

// Flush closes the current batch and sends every batch, oldest first;
// a batch leaves the spool once the server has stored it. A batch the
// server refuses as malformed (400, 413) is kept aside as rejected-N
// with an error logged, so one bad line cannot stall the rest.
func (s *Sender) Flush(ctx context.Context) error {
	if err := s.rotate(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.dropped > 0 {
		s.log().Error("the spool is full: alerts were dropped", "spool", s.Dir, "count", s.dropped)
		s.dropped = 0
	}
	s.mu.Unlock()
	files, err := s.batches()
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if err := s.sendFile(ctx, b); err != nil {
			var rej *rejected
			if !errors.As(err, &rej) {
				return err
			}
			aside := filepath.Join(s.Dir, "rejected-"+strings.TrimPrefix(filepath.Base(f), "batch-"))
			s.log().Error("the server refused a batch of alerts; kept aside", "file", aside, "err", err)
			if err := os.Rename(f, aside); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		} else if err := os.Remove(f); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.mu.Lock()
		s.spooled -= int64(len(b))
		s.mu.Unlock()
	}
	return nil
}

type rejected struct{ msg string }

func (r *rejected) Error() string { return r.msg }

func (s *Sender) sendFile(ctx context.Context, b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var chunk []json.RawMessage
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			// A line torn by a crash mid-write: the rest still goes.
			s.log().Warn("skipped a torn line in the spool", "bytes", len(line))
			continue
		}
		chunk = append(chunk, append(json.RawMessage(nil), line...))
		if len(chunk) == sendBatch {
			if err := s.post(ctx, chunk); err != nil {
				return err
			}
			chunk = chunk[:0]
		}
	}
	if err := sc.Err(); err != nil {
		return &rejected{fmt.Sprintf("spool: %v", err)}
	}
	if len(chunk) > 0 {
		return s.post(ctx, chunk)
	}
	return nil
}

func (s *Sender) post(ctx context.Context, events []json.RawMessage) error {
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.URL, "/")+"/api/v1/runtime/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(s.User, s.Token)
	c := s.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("sending %d alerts: %w", len(events), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge:
		return &rejected{fmt.Sprintf("server %s: %s: %s", s.URL, resp.Status, bytes.TrimSpace(msg))}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("server %s: %s: %s (check --user and the token: the robot needs the scope \"*:report\")", s.URL, resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("server %s: %s: %s", s.URL, resp.Status, bytes.TrimSpace(msg))
	}
}
