package server

import (
	"context"
	"net"
	"sync"
	"time"
)

// failedLogins rate-limits the audit records of failed logins per source
// address: a stranger may not grow the trail (kept at least 90 days and
// sent to the SIEM) without bound by guessing passwords. Past the limit a
// window's failures are counted, and one record says how many there were.
type failedLogins struct {
	mu      sync.Mutex
	windows map[string]*loginWindow
}

type loginWindow struct {
	start      time.Time
	recorded   int
	suppressed int
}

const (
	loginWindowLen   = time.Minute
	loginWindowLimit = 10
)

// recordLoginFailure records a failed login (user as sent, cleaned and
// capped by the audit log) unless its source is over the limit.
func (s *Server) recordLoginFailure(ctx context.Context, user, where, remote string) {
	src := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		src = host
	}
	now := time.Now()
	s.logins.mu.Lock()
	if s.logins.windows == nil || len(s.logins.windows) > 10000 {
		s.logins.windows = map[string]*loginWindow{}
	}
	w := s.logins.windows[src]
	var flush *loginWindow
	if w == nil || now.Sub(w.start) >= loginWindowLen {
		if w != nil && w.suppressed > 0 {
			flush = w
		}
		w = &loginWindow{start: now}
		s.logins.windows[src] = w
	}
	record := w.recorded < loginWindowLimit
	if record {
		w.recorded++
	} else {
		w.suppressed++
	}
	s.logins.mu.Unlock()
	if flush != nil {
		s.recordSuppressed(ctx, src, flush)
	}
	if record {
		s.record(ctx, user, "auth.login", where, "failure", map[string]any{"remote": remote})
	}
}

func (s *Server) recordSuppressed(ctx context.Context, src string, w *loginWindow) {
	s.record(ctx, "anonymous", "auth.login.suppressed", src, "failure", map[string]any{
		"failures": w.suppressed, "since": w.start.UTC().Format(time.RFC3339), "window": loginWindowLen.String(),
		"note": "further failed logins from this address were counted, not recorded one by one"})
}

// flushLoginFailures records the counts of windows that have ended (the
// maintenance loop calls it, so a burst that stops is still accounted).
func (s *Server) flushLoginFailures(ctx context.Context) {
	now := time.Now()
	type ended struct {
		src string
		w   *loginWindow
	}
	var done []ended
	s.logins.mu.Lock()
	for src, w := range s.logins.windows {
		if now.Sub(w.start) >= loginWindowLen {
			if w.suppressed > 0 {
				done = append(done, ended{src, w})
			}
			delete(s.logins.windows, src)
		}
	}
	s.logins.mu.Unlock()
	for _, d := range done {
		s.recordSuppressed(ctx, d.src, d.w)
	}
}
