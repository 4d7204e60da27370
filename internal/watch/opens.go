package watch

import (
	"golang.org/x/sys/unix"
)

// opens turns the file source's events into one judged open each. The
// kernel merges the events of one file and process that are still
// queued, so an event may say write and close at once. A write is
// judged at its first modify (the process still holds the file, so its
// descriptor and open flags are read) or at its close after writing; a
// read at its close. An open is judged once, until its close. Only the
// file source's goroutine uses it.
type opens struct {
	a *Agent
	// reported are opens already judged, until their close.
	reported map[openKey]bool
	lost     int
}

type openKey struct {
	pid      int
	dev, ino uint64
}

func (o *opens) handle(ev FileEvent, judge func(snap, fileOpen)) {
	if ev.Lost {
		o.lost++
		o.a.log().Warn("the kernel dropped file events (fanotify queue full)", "overflows", o.lost)
		return
	}
	if o.reported == nil || len(o.reported) > 8192 {
		o.reported = map[openKey]bool{}
	}
	k := openKey{ev.PID, ev.Dev, ev.Ino}
	closed := ev.Mask&(unix.FAN_CLOSE_WRITE|unix.FAN_CLOSE_NOWRITE) != 0
	if o.reported[k] {
		if closed {
			delete(o.reported, k)
		}
		return
	}
	if ev.Mask&unix.FAN_OPEN_EXEC != 0 {
		// The kernel opening a program (or its loader) to run it: an
		// execve, which the exec source reports, not an openat.
		if !closed {
			o.reported[k] = true
		}
		return
	}
	op := fileOpen{c: ev.Container, path: ev.Path, fd: -1, flags: -1}
	switch {
	case ev.Mask&(unix.FAN_MODIFY|unix.FAN_CLOSE_WRITE) != 0:
		op.write = true
		if fd, fl, ok := openFlags(o.a.Proc.root(), ev.PID, ev.Path); ok {
			op.fd, op.flags, op.read = fd, fl, fl&unix.O_ACCMODE == unix.O_RDWR
		}
	case ev.Mask&unix.FAN_CLOSE_NOWRITE != 0:
		op.read = true
	default:
		return
	}
	if !closed {
		o.reported[k] = true
	}
	judge(o.a.procSnapshot(ev.PID), op)
}
