package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/term"
)

var termIsTerminal = term.IsTerminal

// progressBar draws one line of progress on a terminal, at most ten times
// a second.
type progressBar struct {
	w     io.Writer
	mu    sync.Mutex
	label string
	total int64
	done  int64
	last  time.Time
	start time.Time
}

func (p *progressBar) Start(label string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.total, p.done, p.start = label, total, 0, time.Now()
	p.draw(true)
}

func (p *progressBar) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.draw(false)
}

func (p *progressBar) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	fmt.Fprint(p.w, "\r\033[K")
}

func (p *progressBar) draw(force bool) {
	now := time.Now()
	if !force && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	if p.total > 0 {
		pct := float64(p.done) * 100 / float64(p.total)
		fmt.Fprintf(p.w, "\r\033[K%s: %s / %s (%.0f%%) %s", p.label, mib(p.done), mib(p.total), pct, now.Sub(p.start).Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(p.w, "\r\033[K%s: %s %s", p.label, mib(p.done), now.Sub(p.start).Round(100*time.Millisecond))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
