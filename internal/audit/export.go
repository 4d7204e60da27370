package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"bulwark.dev/bulwark/internal/store"
)

// Sink delivers audit records to a SIEM. Send returns nil only once every
// record is delivered; on error the exporter sends them again.
type Sink interface {
	Send(ctx context.Context, recs []store.AuditRecord) error
	Close() error
}

// Exporter streams the audit trail to a sink. The trail itself is the
// spool: a cursor in the store says which records the SIEM has, so an
// unreachable SIEM loses nothing (the records wait in the store, bounded
// by the audit retention, at least 90 days), a restart resumes where it
// stopped, and one replica at a time exports (a lease in the store).
type Exporter struct {
	Store  *store.Store
	Name   string
	Sink   Sink
	Logger *slog.Logger
	// Holder names this replica for the lease.
	Holder string
	// Batch is how many records go in one Send (default 200).
	Batch int
	// Poll is how often new records are looked for (default 1s); Backoff
	// bounds the wait after a failure (from 1s doubling to it, default
	// one minute).
	Poll, Backoff time.Duration
	// Actions, when set, are the only actions sent (a notification
	// webhook for sla.breach); the cursor passes the others.
	Actions []Action

	failures atomic.Int64
}

// Failures counts the sends that failed so far (a SIEM down, a
// connection lost), for health and tests.
func (e *Exporter) Failures() int64 { return e.failures.Load() }

func (e *Exporter) cursorKey() string { return "audit.export." + e.Name + ".cursor" }

// Run exports until ctx ends.
func (e *Exporter) Run(ctx context.Context) {
	if e.Batch == 0 {
		e.Batch = 200
	}
	if e.Poll == 0 {
		e.Poll = time.Second
	}
	if e.Backoff == 0 {
		e.Backoff = time.Minute
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Holder == "" {
		h, _ := os.Hostname()
		e.Holder = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	defer e.Sink.Close()
	wait := time.Duration(0)
	failures := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n, err := e.Once(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			e.failures.Add(1)
			e.Logger.Warn("SIEM export failed; retrying", "sink", e.Name, "wait", failures, "err", err)
			wait = failures
			if failures *= 2; failures > e.Backoff {
				failures = e.Backoff
			}
		case n == e.Batch:
			wait, failures = 0, time.Second
		default:
			wait, failures = e.Poll, time.Second
		}
	}
}

// Once sends the next batch after the cursor (if this replica holds the
// lease) and advances the cursor. It returns how many it sent.
func (e *Exporter) Once(ctx context.Context) (int, error) {
	ok, err := e.Store.TryLease(ctx, "audit.export."+e.Name+".lease", e.Holder, 30*time.Second)
	if err != nil || !ok {
		return 0, err
	}
	cur, err := e.Store.Setting(ctx, e.cursorKey())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	after, _ := strconv.ParseInt(cur, 10, 64)
	recs, err := e.Store.AuditAfter(ctx, after, e.Batch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	send := recs
	if len(e.Actions) > 0 {
		send = nil
		for _, r := range recs {
			for _, a := range e.Actions {
				if r.Action == a.String() {
					send = append(send, r)
					break
				}
			}
		}
	}
	if len(send) > 0 {
		if err := e.Sink.Send(ctx, send); err != nil {
			return 0, err
		}
	}
	// len(recs), not len(send): a full batch of other actions means more
	// may wait.
	return len(recs), e.Store.PutSetting(ctx, e.cursorKey(), strconv.FormatInt(recs[len(recs)-1].Seq, 10))
}

// Syslog sends records as RFC 5424 messages over TCP or TLS, framed by
// octet counting (RFC 6587). Format "cef" puts an ArcSight CEF event in
// the message instead of bulwark's structured data and JSON detail.
type Syslog struct {
	Addr   string
	TLS    *tls.Config // nil: plain TCP
	Format string      // rfc5424 (default) or cef
	// Hostname and Version fill the header and CEF's device version.
	Hostname, Version string
	conn              net.Conn
}

// Send writes every record and returns once they are written; a failed
// connection is dropped and opened again on the next Send.
func (s *Syslog) Send(ctx context.Context, recs []store.AuditRecord) error {
	if s.conn != nil && peerClosed(s.conn) {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		var err error
		if s.TLS != nil {
			s.conn, err = (&tls.Dialer{NetDialer: d, Config: s.TLS}).DialContext(ctx, "tcp", s.Addr)
		} else {
			s.conn, err = d.DialContext(ctx, "tcp", s.Addr)
		}
		if err != nil {
			return fmt.Errorf("syslog %s: %w", s.Addr, err)
		}
	}
	var buf bytes.Buffer
	for i := range recs {
		msg := s.message(&recs[i])
		fmt.Fprintf(&buf, "%d %s", len(msg), msg)
	}
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(buf.Bytes()); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog %s: %w", s.Addr, err)
	}
	return nil
}

// peerClosed tells a connection the collector closed (it restarted):
// syslog over TCP has no acknowledgements, so a write into a dead
// connection would seem to succeed and be lost.
func peerClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}

// syslog severities: notice for what succeeded, warning for failures and
// refusals; facility authpriv (10), security and authorization messages.
func priority(outcome string) int {
	if outcome == "success" {
		return 10*8 + 5
	}
	return 10*8 + 4
}

func (s *Syslog) message(r *store.AuditRecord) string {
	host := s.Hostname
	if host == "" {
		host = "-"
	}
	hdr := fmt.Sprintf("<%d>1 %s %s bulwark - %s ", priority(r.Outcome), r.At.UTC().Format("2006-01-02T15:04:05.000Z"), host, msgID(r.Action))
	if s.Format == "cef" {
		return hdr + "- " + CEF(r, s.Version)
	}
	sd := fmt.Sprintf(`[bulwark@32473 seq="%d" actor="%s" action="%s" object="%s" outcome="%s" hash="%s"]`,
		r.Seq, sdEscape(r.Actor), sdEscape(r.Action), sdEscape(r.Object), sdEscape(r.Outcome), sdEscape(r.Hash))
	// The MSG is the detail JSON, on the same line: a record never spans
	// lines, whatever reached the store.
	return hdr + sd + " " + Clean(r.Detail, 1<<20)
}

// msgID is the RFC 5424 MSGID: printable ASCII, at most 32 characters.
func msgID(action string) string {
	var b strings.Builder
	for _, c := range action {
		if c > 32 && c < 127 && b.Len() < 32 {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// sdEscape escapes an RFC 5424 PARAM-VALUE (section 6.3.3: '"', '\' and
// ']'), after Clean has made control characters, line breaks above all,
// visible: one record is one line for receivers that frame by newline.
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(Clean(s, 1<<20))
}

// CEF renders a record as an ArcSight Common Event Format event.
func CEF(r *store.AuditRecord, version string) string {
	sev := 3
	if r.Outcome != "success" {
		sev = 7
	}
	// CEF escapes '\' and '|' in the header, '\' and '=' in extension
	// values, and line breaks as \n and \r; every other control
	// character (ESC among them) is made visible by Clean first.
	h := strings.NewReplacer(`\`, `\\`, `|`, `\|`)
	hdr := func(s string) string { return h.Replace(Clean(s, 1<<20)) }
	e := strings.NewReplacer(`\x0a`, `\n`, `\x0d`, `\r`, `\`, `\\`, `=`, `\=`)
	ext := func(s string) string { return e.Replace(Clean(s, 1<<20)) }
	return fmt.Sprintf("CEF:0|bulwark|bulwark|%s|%s|%s|%d|rt=%d suser=%s outcome=%s cs1Label=object cs1=%s cn1Label=seq cn1=%d cs2Label=hash cs2=%s msg=%s",
		hdr(version), hdr(r.Action), hdr(r.Action), sev, r.At.UnixMilli(),
		ext(r.Actor), ext(r.Outcome), ext(r.Object), r.Seq, ext(r.Hash), ext(r.Detail))
}

// HTTPSink posts records as JSON lines (one object per record) to a URL,
// as SIEM HTTP collectors take them. Any status but 2xx is a failure.
type HTTPSink struct {
	URL    string
	Header http.Header // e.g. Authorization for the collector
	Client *http.Client
	// Chat posts each record as {"text": "..."}, one request each, which
	// Slack, Mattermost, Rocket.Chat and Google Chat incoming webhooks
	// read; otherwise a batch is one request of NDJSON records.
	Chat bool
}

// JSONRecord is a record as exported.
type JSONRecord struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Object   string          `json:"object"`
	Outcome  string          `json:"outcome"`
	Detail   json.RawMessage `json:"detail"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// Send posts one batch.
func (h *HTTPSink) Send(ctx context.Context, recs []store.AuditRecord) error {
	if h.Chat {
		for _, r := range recs {
			b, _ := json.Marshal(map[string]string{"text": ChatText(&r)})
			if err := h.post(ctx, bytes.NewReader(b), "application/json"); err != nil {
				return err
			}
		}
		return nil
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	for _, r := range recs {
		detail := json.RawMessage(r.Detail)
		if !json.Valid(detail) {
			detail = json.RawMessage(strconv.Quote(r.Detail))
		}
		enc.Encode(JSONRecord{r.Seq, r.At.UTC(), r.Actor, r.Action, r.Object, r.Outcome, detail, r.PrevHash, r.Hash})
	}
	w.Flush()
	return h.post(ctx, &buf, "application/x-ndjson")
}

func (h *HTTPSink) post(ctx context.Context, body io.Reader, contentType string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, body)
	if err != nil {
		return err
	}
	for k, v := range h.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("SIEM %s: %w", redactURL(h.URL), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("SIEM %s: %s", redactURL(h.URL), resp.Status)
	}
	return nil
}

// ChatText is a record as one line a person reads in a chat channel:
// the action, the object, the outcome, then the detail's fields.
func ChatText(r *store.AuditRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bulwark %s: %s %s (%s, by %s, seq %d)", r.Action, r.Object, r.Outcome, r.At.UTC().Format(time.RFC3339), r.Actor, r.Seq)
	var detail map[string]any
	if json.Unmarshal([]byte(r.Detail), &detail) == nil && len(detail) > 0 {
		keys := make([]string, 0, len(detail))
		for k := range detail {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, _ := json.Marshal(detail[k])
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	return b.String()
}

// Close does nothing: each Send is one request.
func (h *HTTPSink) Close() error { return nil }

// redactURL drops credentials and the query (collector tokens) from a URL
// for messages.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if s := strings.Index(u, "://"); s >= 0 && s < at {
			u = u[:s+3] + "REDACTED@" + u[at+1:]
		}
	}
	return u
}
