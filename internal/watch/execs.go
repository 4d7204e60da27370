package watch

import (
	"path"
	"strings"
	"sync"
	"time"
)

// execCache keeps what the file source saw of each exec (fanotify's
// open-for-exec: the file, the container, whether the file is in the
// container's writable layer), or without it what the eBPF source's
// sched_process_exec said, for the exec events of processes that
// exit before /proc can be read: a short-lived dropped binary is still
// reported as drift, with its container.
type execCache struct {
	mu sync.Mutex
	m  map[int][]execInfo
}

type execInfo struct {
	c     *Container
	path  string
	upper bool
	at    time.Time
}

// put records an exec open. The kernel also opens the ELF interpreter
// (ld.so) for exec; it is not the program and is left out.
func (ec *execCache) put(ev FileEvent, now time.Time) {
	if ev.Container == nil || loader(ev.Path) {
		return
	}
	ec.add(ev.PID, ev.Container, ev.Path, now)
}

// add records that pid ran path in container c.
func (ec *execCache) add(pid int, c *Container, file string, now time.Time) {
	info := execInfo{c: c, path: file, at: now}
	if c.UpperDir != "" && path.IsAbs(file) {
		info.upper, _ = c.inUpperLayer(file)
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.m == nil || len(ec.m) > 4096 {
		ec.m = map[int][]execInfo{}
	}
	l := ec.m[pid]
	for len(l) > 0 && (now.Sub(l[0].at) > 5*time.Second || len(l) >= 8) {
		l = l[1:]
	}
	ec.m[pid] = append(l, info)
}

// take returns the oldest exec recorded for pid, waiting up to wait
// for the file source to deliver it (the two sources are read apart).
func (ec *execCache) take(pid int, wait time.Duration) (execInfo, bool) {
	deadline := time.Now().Add(wait)
	for {
		ec.mu.Lock()
		l := ec.m[pid]
		if len(l) > 0 {
			info := l[0]
			if len(l) == 1 {
				delete(ec.m, pid)
			} else {
				ec.m[pid] = l[1:]
			}
			ec.mu.Unlock()
			return info, true
		}
		ec.mu.Unlock()
		if time.Now().After(deadline) {
			return execInfo{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drop forgets the execs of a process whose exec event was handled
// while it still ran (its /proc said everything).
func (ec *execCache) drop(pid int) {
	ec.mu.Lock()
	delete(ec.m, pid)
	ec.mu.Unlock()
}

func loader(p string) bool {
	b := path.Base(p)
	return strings.HasPrefix(b, "ld-linux") || strings.HasPrefix(b, "ld-musl") || strings.HasPrefix(b, "ld64.so") || b == "ld.so"
}

// goneExec fills an exec event of a process that exited before it was
// read with what the file source saw of the exec.
func goneExec(e map[string]any, info execInfo) {
	e["proc.exepath"], e["proc.exe"], e["proc.name"] = info.path, info.path, truncComm(path.Base(info.path))
	e["proc.is_exe_upper_layer"] = info.upper
}

// truncComm is the kernel's comm: the program's base name, at most 15
// bytes.
func truncComm(s string) string {
	if len(s) > 15 {
		return s[:15]
	}
	return s
}
