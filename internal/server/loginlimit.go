package server

import (
	"bulwark.dev/bulwark/internal/audit"
	"context"
	"net"
	"sync"
	"time"
)

// limiter rate-limits the audit records a source can cause by itself
// (failed logins, anonymous refusals): a stranger may not grow the trail,
// kept at least 90 days and sent to the SIEM, without bound. Past the
// limit a window's events are counted, and one record says how many.
type limiter struct {
	mu      sync.Mutex
	windows map[limitKey]*limitWindow
	// seen dedups successful Basic logins per user and source, so every
	// credential use is on the record without one record per request.
	seen map[limitKey]time.Time
}

type limitKey struct{ kind, src string }

type limitWindow struct {
	start      time.Time
	recorded   int
	suppressed int
}

const (
	limitWindowLen = time.Minute
	limitPerWindow = 10
	// basicLoginEvery is how often a user's Basic logins from one source
	// are recorded.
	basicLoginEvery = 5 * time.Minute
)

func source(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// limited records one event of a kind from a source through rec, unless
// the source is over its limit.
func (s *Server) limited(ctx context.Context, kind, remote string, rec func()) {
	key := limitKey{kind, source(remote)}
	now := time.Now()
	s.limits.mu.Lock()
	if s.limits.windows == nil || len(s.limits.windows) > 10000 {
		s.limits.windows = map[limitKey]*limitWindow{}
	}
	w := s.limits.windows[key]
	var flush *limitWindow
	if w == nil || now.Sub(w.start) >= limitWindowLen {
		if w != nil && w.suppressed > 0 {
			flush = w
		}
		w = &limitWindow{start: now}
		s.limits.windows[key] = w
	}
	record := w.recorded < limitPerWindow
	if record {
		w.recorded++
	} else {
		w.suppressed++
	}
	s.limits.mu.Unlock()
	if flush != nil {
		s.recordSuppressed(ctx, key, flush)
	}
	if record {
		rec()
	}
}

// recordLoginFailure records a failed login (user as sent; the audit log
// cleans and caps it) unless its source is over the limit.
func (s *Server) recordLoginFailure(ctx context.Context, user, where, remote string) {
	s.limited(ctx, "auth.login failure", remote, func() {
		s.record(ctx, user, audit.ActionAuthLogin, where, audit.Failure, map[string]any{"remote": remote})
	})
}

// recordBasicLogin records a successful Basic login, once per user and
// source every few minutes (a client sends the credentials with every
// request).
func (s *Server) recordBasicLogin(ctx context.Context, user, where, remote string) {
	key := limitKey{user, source(remote)}
	now := time.Now()
	s.limits.mu.Lock()
	if s.limits.seen == nil || len(s.limits.seen) > 10000 {
		s.limits.seen = map[limitKey]time.Time{}
	}
	last, ok := s.limits.seen[key]
	fresh := !ok || now.Sub(last) >= basicLoginEvery
	if fresh {
		s.limits.seen[key] = now
	}
	s.limits.mu.Unlock()
	if fresh {
		s.record(ctx, user, audit.ActionAuthLogin, where, audit.Success, map[string]any{"remote": remote, "method": "basic"})
	}
}

func (s *Server) recordSuppressed(ctx context.Context, key limitKey, w *limitWindow) {
	s.record(ctx, "anonymous", audit.ActionSuppressed, key.src, audit.Failure, map[string]any{
		"events": key.kind, "count": w.suppressed, "since": w.start.UTC().Format(time.RFC3339), "window": limitWindowLen.String(),
		"note": "further events of this kind from this address were counted, not recorded one by one"})
}

// flushLimits records the counts of windows that have ended (the
// maintenance loop calls it, so a burst that stops is still accounted).
func (s *Server) flushLimits(ctx context.Context) {
	now := time.Now()
	type ended struct {
		key limitKey
		w   *limitWindow
	}
	var done []ended
	s.limits.mu.Lock()
	for k, w := range s.limits.windows {
		if now.Sub(w.start) >= limitWindowLen {
			if w.suppressed > 0 {
				done = append(done, ended{k, w})
			}
			delete(s.limits.windows, k)
		}
	}
	s.limits.mu.Unlock()
	for _, d := range done {
		s.recordSuppressed(ctx, d.key, d.w)
	}
}
