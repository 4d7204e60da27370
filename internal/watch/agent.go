// Package watch is bulwark's runtime agent: it reads kernel events
// (today the process connector's execs), attributes each to its
// container through the Docker Engine API, and runs Falco-format rules
// (internal/falco) on them, writing alerts in Falco's JSON shape so
// falcosidekick and existing SIEM parsers read them.
package watch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"bulwark.dev/bulwark/internal/falco"
)

// Builtin are bulwark's own rules, in Falco's format: a shell in a
// container, a package manager at runtime, a binary that was not in the
// image (drift), a write below a binary directory or /etc.
//
//go:embed builtin_rules.yaml
var Builtin []byte

// DockerAPI reads the Docker Engine API (image.DockerClient).
type DockerAPI interface {
	GetJSON(ctx context.Context, path string, v any) error
}

// Container is what the agent knows about a container.
type Container struct {
	ID, Name        string
	Image           string
	Repository, Tag string
	ImageID         string
	// ImageUser is the USER the image declares ("" when none).
	ImageUser  string
	Labels     map[string]string
	Privileged bool
	UpperDir   string
	MergedDir  string
	// Immutable is the bulwark.dev/immutable=true label: drifted
	// binaries may not run (with a Preventer).
	Immutable          bool
	Namespace, PodName string
}

// Alert is one rule firing, in Falco's JSON output shape.
type Alert struct {
	// UUID names the alert once, wherever it is sent (falcosidekick's
	// field): the server stores a resent alert once.
	UUID         string         `json:"uuid"`
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
}

// Agent turns process events into alerts.
type Agent struct {
	Rules  *falco.Ruleset
	Docker DockerAPI
	Proc   ProcFS
	// Out receives one JSON alert per line.
	Out io.Writer
	Log *slog.Logger
	// Prevent, when set, denies drifted binaries in immutable
	// containers.
	Prevent *Preventer
	// Files, when set, reports opens and writes in every container.
	Files *FileWatcher
	// Syscalls, when set, reports the network, ptrace, link and module
	// syscalls (eBPF raw tracepoints).
	Syscalls *SyscallWatcher
	// Record, when set, receives every event the agent judges as one
	// JSON object a line, which Replay (--replay) reads back.
	Record io.Writer
	// PerMinute caps alerts per container and rule (default 20); the
	// rest are counted and reported once the minute is over.
	PerMinute int
	// Dedup is how long an alert identical to one already written (same
	// container, rule and output) is counted instead of written
	// (default a minute; negative: never).
	Dedup time.Duration
	Now   func() time.Time

	mu         sync.Mutex
	recMu      sync.Mutex
	containers map[string]*Container
	limits     map[string]*bucket
	seen       map[string]*repeat
	execs      execCache
	// /proc reads every event would otherwise repeat: user names by
	// container and uid, parents, and each process's snapshot for the
	// opens after its exec.
	users    cache[string, string]
	parents  cache[int, Proc]
	procs    cache[int, snap]
	hostname string
}

type repeat struct {
	first time.Time
	n     int
}

type bucket struct {
	start      time.Time
	n, dropped int
}

func (a *Agent) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// container returns the container, from the Docker Engine the first
// time; nil when the engine does not know it.
func (a *Agent) container(ctx context.Context, id string) *Container {
	a.mu.Lock()
	c, ok := a.containers[id]
	a.mu.Unlock()
	if ok {
		return c
	}
	if a.Docker == nil {
		return nil
	}
	var v struct {
		ID     string `json:"Id"`
		Name   string
		Image  string
		Config struct {
			Image  string
			Labels map[string]string
		}
		HostConfig struct {
			Privileged bool
		}
		GraphDriver struct {
			Data map[string]string
		}
	}
	if err := a.Docker.GetJSON(ctx, "/containers/"+id+"/json", &v); err != nil {
		a.log().Debug("container not found", "id", id, "err", err)
		return nil
	}
	c = &Container{ID: id, Name: strings.TrimPrefix(v.Name, "/"), Image: v.Config.Image, ImageID: v.Image, Labels: v.Config.Labels,
		Privileged: v.HostConfig.Privileged, UpperDir: v.GraphDriver.Data["UpperDir"], MergedDir: v.GraphDriver.Data["MergedDir"],
		Immutable: v.Config.Labels[ImmutableLabel] == "true",
		Namespace: v.Config.Labels["io.kubernetes.pod.namespace"], PodName: v.Config.Labels["io.kubernetes.pod.name"]}
	c.Repository, c.Tag = splitImage(v.Config.Image)
	var im struct{ Config struct{ User string } }
	if err := a.Docker.GetJSON(ctx, "/images/"+v.Image+"/json", &im); err == nil {
		c.ImageUser = im.Config.User
	}
	if c.Immutable && a.Prevent != nil {
		if err := a.Prevent.Protect(c); err != nil {
			a.log().Error("cannot protect an immutable container", "container", c.Name, "err", err)
		}
	}
	if a.Files != nil {
		if err := a.Files.Watch(c); err != nil {
			a.log().Warn("no file events for a container", "container", c.Name, "err", err)
		}
	}
	a.mu.Lock()
	if a.containers == nil || len(a.containers) > 10000 {
		a.containers = map[string]*Container{}
	}
	a.containers[id] = c
	a.mu.Unlock()
	return c
}

// Forget drops a container that ended.
func (a *Agent) Forget(id string) {
	a.mu.Lock()
	delete(a.containers, id)
	a.mu.Unlock()
}

func splitImage(img string) (repo, tag string) {
	img, _, _ = strings.Cut(img, "@")
	if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
		return img[:i], img[i+1:]
	}
	return img, "latest"
}

// userName is the process's user as its container's /etc/passwd names
// it, read at most every 30 seconds per container and uid.
func (a *Agent) userName(p Proc) string {
	return a.users.get(p.ContainerID+":"+strconv.Itoa(p.UID), 30*time.Second, func() string { return a.Proc.userName(p.PID, p.UID) }, nil)
}

// ancestor reads a parent process, from the cache when an earlier event
// read it: parents outlive their children's events, and one that execs
// or exits is forgotten.
func (a *Agent) ancestor(pid int) Proc {
	return a.parents.get(pid, 0, func() Proc { return a.Proc.Read(pid) }, func(p Proc) bool { return !p.Gone })
}

// procSnapshot is the process as the opens after its exec see it, read
// at most every 2 seconds: reading /proc for each open would cost more
// than the rules.
func (a *Agent) procSnapshot(pid int) snap {
	return a.procs.get(pid, 2*time.Second, func() snap { return a.snapshot(pid) }, func(sn snap) bool { return !sn.p.Gone })
}

// lateSnapshot is, for a process that had exited when its syscall was
// read, the snapshot its exec took, which the process connector's
// reader may store a little after the syscall arrives.
func (a *Agent) lateSnapshot(sn snap) snap {
	if !sn.p.Gone {
		return sn
	}
	for deadline := time.Now().Add(100 * time.Millisecond); ; time.Sleep(5 * time.Millisecond) {
		if c, ok := a.procs.peek(sn.p.PID, 2*time.Second); ok {
			return c
		}
		if time.Now().After(deadline) {
			return sn
		}
	}
}

// Event builds the Falco event of an exec.
func (a *Agent) Event(ctx context.Context, pid int) falco.Event {
	return a.event(ctx, a.snapshot(pid))
}

// snap is a process and its ancestors as /proc showed them at the exec.
type snap struct {
	at        time.Time
	p         Proc
	ancestors []Proc
}

// snapshot reads the process and its ancestors at once, in the event
// reader: a short-lived process must be read before it exits, while the
// slower container lookup can wait for a worker.
func (a *Agent) snapshot(pid int) snap {
	sn := snap{at: a.now(), p: a.Proc.Read(pid)}
	if sn.p.Gone {
		return sn
	}
	ppid := sn.p.PPID
	for i := 1; i <= 8 && ppid > 1; i++ {
		pp := a.ancestor(ppid)
		if pp.Gone {
			break
		}
		sn.ancestors = append(sn.ancestors, pp)
		if pp.ContainerID != sn.p.ContainerID {
			break // the container's init's parent is the runtime
		}
		ppid = pp.PPID
	}
	return sn
}

func (a *Agent) event(ctx context.Context, sn snap) falco.Event {
	p, pid := sn.p, sn.p.PID
	e := falco.Event{"evt.type": "execve", "evt.dir": "<", "evt.source": "syscall", "proc.pid": int64(pid), "evt.time": sn.at.UTC().Format(time.RFC3339Nano)}
	if p.Gone {
		// Exited before it could be read: reported with what is known.
		e["container.id"] = "<NA>"
		return e
	}
	e["proc.name"] = p.Name
	e["proc.exe"] = firstOr(p.Args, p.Exe)
	e["proc.exepath"] = p.Exe
	e["proc.cmdline"] = strings.TrimSpace(p.Name + " " + strings.Join(tail(p.Args), " "))
	e["proc.args"] = strings.Join(tail(p.Args), " ")
	e["proc.cwd"] = p.Cwd
	e["proc.ppid"] = int64(p.PPID)
	e["proc.tty"] = int64(p.TTY)
	e["user.uid"] = int64(p.UID)
	e["thread.cap_effective"] = capString(p.CapEff)
	if !p.Start.IsZero() {
		e["proc.duration"] = max(int64(sn.at.Sub(p.Start)), 0)
	}
	e["user.name"] = a.userName(p)
	// Ancestors: proc.pname, proc.aname[N], proc.aname (any).
	// Never nil: a recorded event says "no ancestors" as [], not null.
	anames, aexes := []string{}, []string{}
	for i, pp := range sn.ancestors {
		if i == 0 {
			e["proc.pname"] = pp.Name
			e["proc.pexe"] = firstOr(pp.Args, pp.Exe)
			e["proc.pexepath"] = pp.Exe
			e["proc.pcmdline"] = strings.TrimSpace(pp.Name + " " + strings.Join(tail(pp.Args), " "))
		}
		e[falco.Key("proc.aname", fmt.Sprint(i+1))] = pp.Name
		e[falco.Key("proc.aexepath", fmt.Sprint(i+1))] = pp.Exe
		anames, aexes = append(anames, pp.Name), append(aexes, pp.Exe)
	}
	e["proc.aname"], e["proc.aexepath"] = anames, aexes
	if p.ContainerID == "" {
		e["container.id"], e["container.name"] = "host", "host"
		return e
	}
	e["container.id"] = shortID(p.ContainerID)
	c := a.container(ctx, p.ContainerID)
	if c == nil {
		return e
	}
	containerFields(e, c)
	if c.UpperDir != "" && p.Exe != "" && p.Exe != "/" {
		e["proc.is_exe_upper_layer"], _ = c.inUpperLayer(p.Exe)
	}
	return e
}

// inUpperLayer says whether path (inside the container) is a regular
// file in the container's writable layer: drift, a file the image did
// not hold or that changed since the container started. Lstat never
// follows a link out of the layer. The error is for a file that could
// not be looked at (not for one that is absent), which prevention
// treats as drift.
func (c *Container) inUpperLayer(path string) (bool, error) {
	fi, err := os.Lstat(filepath.Join(c.UpperDir, filepath.Clean("/"+path)))
	switch {
	case err == nil:
		return fi.Mode().IsRegular(), nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

func containerFields(e falco.Event, c *Container) {
	e["container.id"] = shortID(c.ID)
	e["container.name"] = c.Name
	e["container.image"] = c.Image
	e["container.image.repository"] = c.Repository
	e["container.image.tag"] = c.Tag
	e["container.image.digest"] = c.ImageID
	e["container.privileged"] = c.Privileged
	e["container.image.user"] = c.ImageUser
	if c.Namespace != "" {
		e["k8s.ns.name"], e["k8s.pod.name"] = c.Namespace, c.PodName
	}
}

// execEvent is the event of an exec; for a process that exited before
// it was read, the file source's record of the exec (when it runs) says
// what ran and where.
func (a *Agent) execEvent(ctx context.Context, sn snap) falco.Event {
	e := a.event(ctx, sn)
	if a.Files == nil && a.Syscalls == nil {
		return e
	}
	if !sn.p.Gone {
		a.execs.drop(sn.p.PID)
		return e
	}
	if info, ok := a.execs.take(sn.p.PID, 100*time.Millisecond); ok {
		containerFields(e, info.c)
		goneExec(e, info)
	}
	return e
}

// fileOpen is what the file source knows of one open.
type fileOpen struct {
	c           *Container
	path        string
	read, write bool
	// fd and flags are the process's descriptor and open flags, when it
	// still held the file as the event was read (-1 otherwise).
	fd, flags int
}

// openEvent builds the Falco event of an open (evt.type openat): the
// process as the open found it, the container from the mark the event
// came through (known even when the process has exited).
func (a *Agent) openEvent(ctx context.Context, sn snap, o fileOpen) falco.Event {
	e := a.event(ctx, sn)
	delete(e, "proc.is_exe_upper_layer")
	if id, _ := e["container.id"].(string); id == "<NA>" || id == "host" || e["container.name"] == nil {
		containerFields(e, o.c)
	}
	e["evt.type"], e["evt.res"] = "openat", "SUCCESS"
	e["evt.is_open_read"], e["evt.is_open_write"], e["evt.is_open_exec"] = o.read, o.write, false
	// fanotify reports only opens that succeeded, which is what Falco's
	// fd.num >= 0 tests; the number itself is known only while the
	// process still holds the file.
	e["fd.num"], e["evt.rawres"] = int64(max(o.fd, 0)), int64(max(o.fd, 0))
	if o.flags >= 0 {
		e[falco.Key("evt.arg", "flags")] = flagNames(o.flags)
	}
	e["fd.name"], e["fd.nameraw"] = o.path, o.path
	e["fd.directory"], e["fd.filename"] = path.Dir(o.path), path.Base(o.path)
	e["fd.typechar"], e["fd.type"] = "f", "file"
	return e
}

// runtimeProcess is the container runtime's own process inside a new
// container: runc init, first as "runc init" (the host's runc binary run
// as /proc/self/exe, so named exe), then re-executed from a memfd (its exe reads "/")
// and named runc:[N:INIT]. It runs as root before the workload's user
// is set and is no workload.
func runtimeProcess(p Proc) bool {
	if p.Gone || p.ContainerID == "" {
		return false
	}
	// runc starts it as /proc/self/exe with argv[0] its own name.
	selfInit := len(p.Args) >= 2 && p.Args[1] == "init" &&
		(p.Args[0] == "/proc/self/exe" || path.Base(p.Args[0]) == "runc" || strings.HasPrefix(path.Base(p.Exe), "runc"))
	return selfInit || p.Exe == "/" || strings.HasPrefix(p.Name, "runc:[") || strings.HasPrefix(p.Exe, "/memfd:runc")
}

func firstOr(s []string, def string) string {
	if len(s) > 0 && s[0] != "" {
		return s[0]
	}
	return def
}

func tail(s []string) []string {
	if len(s) > 1 {
		return s[1:]
	}
	return nil
}

// Judge runs the rules on an event and writes an alert for each match.
func (a *Agent) Judge(e falco.Event) []Alert {
	if a.Record != nil {
		b, err := json.Marshal(e)
		if err == nil {
			a.recMu.Lock()
			_, err = a.Record.Write(append(b, '\n'))
			a.recMu.Unlock()
		}
		if err != nil {
			a.log().Error("cannot record an event", "err", err)
		}
	}
	var out []Alert
	typ, _ := e["evt.type"].(string)
	for _, r := range a.Rules.For(typ) {
		if !r.Match(e) {
			continue
		}
		al, ok := a.alert(r, e)
		if !ok {
			continue
		}
		out = append(out, al)
		a.emit(al)
	}
	return out
}

var outputField = regexp.MustCompile(`%([a-z0-9_]+(?:\.[a-z0-9_]+)+(?:\[[^\]]*\])?)`)

func (a *Agent) alert(r *falco.Rule, e falco.Event) (Alert, bool) {
	now := a.eventTime(e)
	cid, _ := e["container.id"].(string)
	key := cid + "\x00" + r.Name
	limit := a.PerMinute
	if limit == 0 {
		limit = 20
	}
	a.mu.Lock()
	if a.limits == nil {
		a.limits = map[string]*bucket{}
	}
	b := a.limits[key]
	if b == nil || now.Sub(b.start) >= time.Minute {
		if b != nil && b.dropped > 0 {
			a.log().Warn("alerts suppressed by the rate limit", "rule", r.Name, "container", cid, "count", b.dropped)
		}
		b = &bucket{start: now}
		a.limits[key] = b
	}
	b.n++
	over := b.n > limit
	if over {
		b.dropped++
	}
	if a.hostname == "" {
		a.hostname, _ = os.Hostname()
	}
	host := a.hostname
	a.mu.Unlock()
	if over {
		return Alert{}, false
	}
	fields := map[string]any{}
	msg := outputField.ReplaceAllStringFunc(r.Output, func(m string) string {
		f := m[1:]
		v, ok := e[falco.EventKey(f)]
		if !ok {
			fields[f] = nil
			return "<NA>"
		}
		if l, isList := v.([]string); isList {
			v = strings.Join(l, ",")
		}
		fields[f] = v
		return fmt.Sprint(v)
	})
	// Where it happened, always: SIEM rules route on the container even
	// when a rule's output does not name it.
	for _, k := range []string{"container.id", "container.name"} {
		if _, ok := fields[k]; !ok {
			if v, ok := e[k]; ok {
				fields[k] = v
			}
		}
	}
	if a.duplicate(now, cid, r.Name, msg) {
		return Alert{}, false
	}
	prio := strings.ToLower(r.Priority)
	if prio == "info" {
		prio = "informational"
	}
	if prio != "" {
		prio = strings.ToUpper(prio[:1]) + prio[1:]
	}
	return Alert{UUID: newUUID(), Hostname: host, Output: now.UTC().Format("15:04:05.000000000") + ": " + prio + " " + msg, Priority: prio, Rule: r.Name,
		Source: "syscall", Tags: append([]string{}, r.Tags...), Time: now.UTC(), OutputFields: fields}, true
}

// duplicate says whether the same alert (container, rule, output) was
// written within the dedup window, counting the repeats it suppresses.
func (a *Agent) duplicate(now time.Time, cid, rule, msg string) bool {
	window := a.Dedup
	if window == 0 {
		window = time.Minute
	}
	if window < 0 {
		return false
	}
	key := cid + "\x00" + rule + "\x00" + msg
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil || len(a.seen) > 100000 {
		a.seen = map[string]*repeat{}
	}
	if r := a.seen[key]; r != nil && now.Sub(r.first) < window {
		r.n++
		return true
	} else if r != nil && r.n > 0 {
		a.log().Info("identical alerts counted, not repeated", "rule", rule, "container", cid, "count", r.n, "window", window)
	}
	a.seen[key] = &repeat{first: now}
	return false
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// eventTime is when the event happened (evt.time, which a replayed
// event carries from its recording), else now: rate limits and alert
// times follow the events, live or replayed.
func (a *Agent) eventTime(e falco.Event) time.Time {
	if s, ok := e["evt.time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return a.now()
}

// Replay judges a recorded event stream (one JSON event a line, as
// Record wrote it) as the live agent would have. A line that cannot be
// read is logged and skipped, the rest is judged, and the error at the
// end counts them.
func (a *Agent) Replay(ctx context.Context, r io.Reader) (events, alerts int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var bad int
	var first error
	for line := 1; sc.Scan(); line++ {
		if line%4096 == 0 && ctx.Err() != nil {
			return events, alerts, ctx.Err()
		}
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		e, err := falco.DecodeEvent(b)
		if err != nil {
			bad++
			a.log().Warn("skipped a line of the event stream", "line", line, "err", err)
			if first == nil {
				first = fmt.Errorf("line %d: %w", line, err)
			}
			continue
		}
		events++
		alerts += len(a.Judge(e))
	}
	if err := sc.Err(); err != nil {
		return events, alerts, fmt.Errorf("event stream: after %d events: %w", events, err)
	}
	if bad > 0 {
		return events, alerts, fmt.Errorf("event stream: %d lines could not be read (the first: %w)", bad, first)
	}
	return events, alerts, nil
}

// markRunning protects or watches the containers already running
// (only the immutable ones when there is no file source).
func (a *Agent) markRunning(ctx context.Context) {
	var list []struct {
		ID string `json:"Id"`
	}
	q := "/containers/json"
	if a.Files == nil {
		q += "?filters=" + url.QueryEscape(`{"label":["`+ImmutableLabel+`=true"]}`)
	}
	if err := a.Docker.GetJSON(ctx, q, &list); err != nil {
		a.log().Error("cannot list running containers", "err", err)
		return
	}
	for _, c := range list {
		a.container(ctx, c.ID)
	}
}

// blocked reports a denied exec as an alert.
func (a *Agent) blocked(b Blocked) {
	e := falco.Event{"evt.type": "execve", "proc.exepath": b.Path, "proc.pid": int64(b.PID), "evt.res": "EPERM"}
	if b.Container != nil {
		e["container.id"], e["container.name"] = shortID(b.Container.ID), b.Container.Name
		e["container.image.repository"], e["container.image.tag"] = b.Container.Repository, b.Container.Tag
	}
	r := &falco.Rule{Name: "Drifted binary blocked (bulwark)", Priority: "CRITICAL", Tags: []string{"container", "drift", "bulwark", "prevention"},
		Output: "exec of a drifted binary denied in an immutable container (exe=%proc.exepath container=%container.name image=%container.image.repository:%container.image.tag pid=%proc.pid)"}
	if al, ok := a.alert(r, e); ok {
		a.emit(al)
	}
}

// emit writes an alert as one JSON line on Out.
func (a *Agent) emit(al Alert) {
	if a.Out == nil {
		return
	}
	b, _ := json.Marshal(al)
	a.mu.Lock()
	a.Out.Write(append(b, '\n'))
	a.mu.Unlock()
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Sources says which event sources could be opened and why not.
type Sources struct {
	ProcConnector error
}

// job is one event for the workers: an exec, an open when open is set,
// a syscall when sys is.
type job struct {
	sn   snap
	open *fileOpen
	sys  *SyscallEvent
}

// Run reads the process connector (and the file source, when set)
// until ctx ends.
func (a *Agent) Run(ctx context.Context, ready func(Sources)) error {
	pc, err := OpenProcConnector()
	if err != nil {
		if ready != nil {
			ready(Sources{ProcConnector: err})
		}
		return err
	}
	defer pc.Close()
	if a.Prevent != nil || a.Files != nil {
		// Before ready: what runs now is watched when Run says so.
		a.markRunning(ctx)
	}
	if ready != nil {
		ready(Sources{})
	}
	jobs := make(chan job, 4096)
	var wg sync.WaitGroup
	if a.Prevent != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Prevent.Run(ctx, a.blocked); err != nil {
				a.log().Error("prevention stopped", "err", err)
			}
		}()
	}
	var readers sync.WaitGroup
	if a.Files != nil {
		readers.Add(1)
		go func() {
			defer readers.Done()
			o := &opens{a: a}
			err := a.Files.Run(ctx, func(ev FileEvent) {
				if ev.Mask&unix.FAN_OPEN_EXEC != 0 {
					a.execs.put(ev, a.now())
				}
				o.handle(ev, func(sn snap, op fileOpen) {
					select {
					case jobs <- job{sn: sn, open: &op}:
					default:
						a.log().Warn("event queue full: an open was not judged", "pid", sn.p.PID, "file", op.path)
					}
				})
			})
			if err != nil {
				a.log().Error("file events stopped", "err", err)
			}
		}()
	}
	if a.Syscalls != nil {
		readers.Add(1)
		go func() {
			defer readers.Done()
			self := os.Getpid()
			err := a.Syscalls.Run(ctx, func(ev SyscallEvent) {
				if ev.PID == self {
					return // the agent's own connections to Docker and --server
				}
				if ev.Syscall == "execve" {
					// Judged from the process connector; this says what ran
					// should the process be gone when /proc is read (the
					// file source says it better when it runs).
					if a.Files == nil && ev.ContainerID != "" {
						if c := a.container(ctx, ev.ContainerID); c != nil {
							a.execs.add(ev.PID, c, ev.Path1, a.now())
						}
					}
					return
				}
				ev.At = a.now()
				sn := a.procSnapshot(ev.PID)
				if runtimeProcess(sn.p) {
					return
				}
				switch ev.Syscall {
				case "connect":
					// Now, while the process holds the socket: its local end.
					ev.Sock = a.Proc.socketInfo(ev.PID, int(ev.Args[0]))
				case "accept", "accept4", "dup", "dup2", "dup3":
					if ev.Res >= 0 {
						ev.Sock = a.Proc.socketInfo(ev.PID, int(ev.Res))
					}
				}
				select {
				case jobs <- job{sn: sn, sys: &ev}:
				default:
					a.log().Warn("event queue full: a syscall was not judged", "pid", ev.PID, "syscall", ev.Syscall)
				}
			})
			if err != nil {
				a.log().Error("eBPF events stopped", "err", err)
			}
		}()
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if j.sys != nil {
					a.Judge(a.syscallEvent(ctx, a.lateSnapshot(j.sn), *j.sys))
				} else if j.open != nil {
					a.Judge(a.openEvent(ctx, j.sn, *j.open))
				} else {
					a.Judge(a.execEvent(ctx, j.sn))
				}
			}
		}()
	}
	err = pc.Run(ctx, func(ev ProcEvent) {
		if ev.Kind == "exit" || ev.Kind == "exec" {
			// What was cached of the process is no longer true. Its
			// snapshot stays after its exit: its last syscalls are read
			// after it.
			a.parents.forget(ev.PID)
		}
		if ev.Kind != "exec" {
			return
		}
		a.procs.forget(ev.PID)
		sn := a.snapshot(ev.PID)
		if !sn.p.Gone {
			a.procs.put(ev.PID, sn)
		}
		if runtimeProcess(sn.p) {
			// runc init in a new container, before the workload starts:
			// mark its root filesystem now, not at the workload's first
			// exec, so its first opens and execs are seen.
			if a.Prevent != nil || a.Files != nil {
				go a.container(ctx, sn.p.ContainerID)
			}
			return
		}
		select {
		case jobs <- job{sn: sn}:
		default:
			a.log().Warn("event queue full: an exec was not judged", "pid", ev.PID)
		}
	}, func() { a.log().Warn("the kernel dropped process events (receive buffer full)") })
	readers.Wait()
	close(jobs)
	wg.Wait()
	return err
}

// LoadRules reads rules files (and the built-in rules unless noBuiltin)
// and compiles them.
func LoadRules(files []string, noBuiltin bool) (*falco.Ruleset, error) {
	rs := falco.NewRuleset()
	if !noBuiltin {
		if err := rs.Add("builtin_rules.yaml", Builtin); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if err := rs.Add(path.Base(f), b); err != nil {
			return nil, err
		}
	}
	rs.Compile()
	return rs, nil
}
