// Package jobs runs the store's job queue by kind: every background task
// (a scan, scheduled maintenance, later benchmarks and rebuilds) is a
// kind with its own handler, retry policy and deadline, and workers claim
// only the kinds they can run. Schedules (cron syntax) are kept in the
// store; exactly one replica enqueues each due run.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"bulwark.dev/bulwark/internal/store"
)

// Kind is how one kind of job runs.
type Kind struct {
	// Handle does the job. An error retries it (with backoff) until
	// MaxAttempts; a *Permanent error fails it at once.
	Handle func(ctx context.Context, j *store.Job) error
	// MaxAttempts (default 3) and Backoff (default 30 s, times the
	// attempt) retry failures.
	MaxAttempts int
	Backoff     time.Duration
	// Timeout bounds one run (default 15 minutes); a run past it fails
	// permanently: the same input would only take as long again.
	Timeout time.Duration
}

// Permanent wraps an error that retrying cannot fix.
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Runner claims and runs jobs of its kinds.
type Runner struct {
	Store *store.Store
	Kinds map[string]Kind
	// Lease is how long a claimed job stays with a worker without a
	// heartbeat (default 2 minutes); Poll how often an idle worker looks
	// (default 1 s).
	Lease, Poll time.Duration
	Logger      *slog.Logger
	// Now is the clock schedules are judged by (time.Now when nil).
	Now func() time.Time

	once sync.Once
	wake chan struct{}
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.wake = make(chan struct{}, 1)
		if r.Lease == 0 {
			r.Lease = 2 * time.Minute
		}
		if r.Poll == 0 {
			r.Poll = time.Second
		}
		if r.Logger == nil {
			r.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) kinds() []string {
	out := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Enqueue queues a job (deduplicated by kind and key while pending) and
// wakes a worker of this replica.
func (r *Runner) Enqueue(ctx context.Context, kind, key, payload string) error {
	r.init()
	if _, ok := r.Kinds[kind]; !ok {
		return fmt.Errorf("enqueue: unknown job kind %q", kind)
	}
	if _, err := r.Store.Enqueue(ctx, kind, key, payload); err != nil {
		return err
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Work runs one worker until ctx ends.
func (r *Runner) Work(ctx context.Context) {
	r.init()
	kinds := r.kinds()
	for ctx.Err() == nil {
		j, err := r.Store.Claim(ctx, r.Lease, kinds...)
		if errors.Is(err, store.ErrNotFound) {
			select {
			case <-ctx.Done():
			case <-r.wake:
			case <-time.After(r.Poll):
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				r.Logger.Error("job queue", "err", err)
				time.Sleep(r.Poll)
			}
			continue
		}
		r.run(ctx, j)
	}
}

func (r *Runner) run(ctx context.Context, j *store.Job) {
	k := r.Kinds[j.Kind]
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	attempts := k.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	backoff := k.Backoff
	if backoff <= 0 {
		backoff = 30 * time.Second
	}
	jctx, cancel := context.WithTimeout(ctx, timeout)
	hb, stop := context.WithCancel(jctx)
	go r.heartbeat(hb, j.ID)
	err := safeHandle(jctx, k, j)
	stop()
	if ctx.Err() == nil && errors.Is(jctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("the %s job took longer than its %s deadline and was stopped", j.Kind, timeout)
		attempts = j.Attempts
	}
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the lease lapses and the job is taken again
	}
	var perm *Permanent
	if errors.As(err, &perm) {
		attempts = j.Attempts
	}
	if err != nil {
		r.Logger.Warn("job failed", "kind", j.Kind, "key", j.Key, "attempt", j.Attempts, "err", err)
	}
	if ferr := r.Store.Finish(context.Background(), j, err, attempts, backoff); ferr != nil {
		r.Logger.Error("job queue", "err", ferr)
	}
}

// safeHandle turns a handler's panic into a permanent failure.
func safeHandle(ctx context.Context, k Kind, j *store.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Permanent{fmt.Errorf("the %s handler panicked: %v", j.Kind, p)}
		}
	}()
	return k.Handle(ctx, j)
}

func (r *Runner) heartbeat(ctx context.Context, id int64) {
	t := time.NewTicker(r.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Store.Extend(ctx, id, r.Lease)
		}
	}
}

// cronParser reads standard five-field specs and @hourly-style
// descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec checks a schedule spec.
func ParseSpec(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w (want cron syntax such as \"0 3 * * 1\" or @daily)", spec, err)
	}
	return s, nil
}

// Schedule creates or changes a recurring job; its first run is the
// spec's next time after now (a changed spec starts over).
func (r *Runner) Schedule(ctx context.Context, name, spec, kind, payload string) error {
	r.init()
	s, err := ParseSpec(spec)
	if err != nil {
		return err
	}
	if _, ok := r.Kinds[kind]; !ok {
		return fmt.Errorf("schedule %s: unknown job kind %q", name, kind)
	}
	return r.Store.PutSchedule(ctx, store.Schedule{Name: name, Spec: spec, Kind: kind, Payload: payload, Next: s.Next(r.now())})
}

// FireDue enqueues every schedule's due run, once across replicas: a
// replica enqueues a run only when it moved the schedule past it first.
// Runs missed while no replica was up are not all replayed: the next one
// fires once and the schedule moves on.
func (r *Runner) FireDue(ctx context.Context) (int, error) {
	r.init()
	scs, err := r.Store.Schedules(ctx)
	if err != nil {
		return 0, err
	}
	now := r.now()
	fired := 0
	for _, sc := range scs {
		if sc.Next.After(now) {
			continue
		}
		spec, err := ParseSpec(sc.Spec)
		if err != nil {
			r.Logger.Error("schedule", "name", sc.Name, "err", err)
			continue
		}
		won, err := r.Store.AdvanceSchedule(ctx, sc.Name, sc.Next, spec.Next(now))
		if err != nil {
			return fired, err
		}
		if !won {
			continue // another replica fired it
		}
		key := sc.Name + "@" + sc.Next.UTC().Format(time.RFC3339)
		if err := r.Enqueue(ctx, sc.Kind, key, sc.Payload); err != nil {
			return fired, err
		}
		fired++
	}
	return fired, nil
}

// RunSchedules fires due schedules every interval until ctx ends.
func (r *Runner) RunSchedules(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.FireDue(ctx); err != nil && ctx.Err() == nil {
			r.Logger.Warn("schedules", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
