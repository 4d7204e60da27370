package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// fileMask is what the file source asks the kernel for: writes, and
// closes, which say whether the file was open for writing, so a read
// is one event (its close) and needs no look at the process's
// descriptors; and opens for exec, which are not opens of the program
// but tell the exec events of processes that exit at once what they
// ran. Asking for every open as well doubled the events and the cost.
const fileMask = unix.FAN_OPEN_EXEC | unix.FAN_MODIFY | unix.FAN_CLOSE_WRITE | unix.FAN_CLOSE_NOWRITE

// FileWatcher reports opens and writes of files in the containers it
// watches: a fanotify notification group (CAP_SYS_ADMIN) with one
// filesystem mark on each container's root filesystem, so the host's
// own file activity never reaches it.
type FileWatcher struct {
	g    *fanGroup
	self int
}

// FileEvent is one open of a file in a watched container.
type FileEvent struct {
	PID       int
	Container *Container
	// Path is the file's path inside the container.
	Path     string
	Dev, Ino uint64
	// Mask holds the fanotify bits the kernel merged into the event.
	Mask uint64
	// Lost is set (and nothing else) when the kernel's queue overflowed.
	Lost bool
}

// OpenFileWatcher opens the fanotify group.
func OpenFileWatcher() (*FileWatcher, error) {
	g, err := openFanGroup(unix.FAN_CLASS_NOTIF)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w (file events need CAP_SYS_ADMIN)", err)
	}
	return &FileWatcher{g: g, self: os.Getpid()}, nil
}

// Close stops the file events.
func (w *FileWatcher) Close() error { return w.g.close() }

// Watch marks the container's root filesystem.
func (w *FileWatcher) Watch(c *Container) error { return w.g.mark(c, fileMask) }

// Run delivers file events until ctx ends. The agent's own reads of a
// container's files (its /etc/passwd, for user names) are not events.
func (w *FileWatcher) Run(ctx context.Context, fn func(FileEvent)) error {
	return w.g.read(ctx, func(ev fanEvent) bool {
		if ev.overflow {
			fn(FileEvent{Lost: true})
			return false
		}
		if ev.pid == w.self || ev.fd < 0 {
			return false
		}
		c, path, dev, ino, err := w.g.file(ev.fd)
		if err != nil || c == nil {
			return false
		}
		fn(FileEvent{PID: ev.pid, Container: c, Path: path, Dev: dev, Ino: ino, Mask: ev.mask})
		return false
	})
}

// openFlags finds the descriptor the process holds on path and its
// open flags (from /proc/PID/fdinfo); ok is false when the process has
// closed it, exited, or holds more descriptors than are worth reading.
func openFlags(procRoot string, pid int, path string) (fd, flags int, ok bool) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	d, err := os.Open(filepath.Join(dir, "fd"))
	if err != nil {
		return 0, 0, false
	}
	names, err := d.Readdirnames(1025)
	d.Close()
	if err != nil || len(names) > 1024 {
		return 0, 0, false
	}
	// Newest first: the file just opened usually holds the highest
	// number, so one readlink finds it.
	fds := make([]int, 0, len(names))
	for _, n := range names {
		if v, err := strconv.Atoi(n); err == nil {
			fds = append(fds, v)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(fds)))
	for _, n := range fds {
		name := strconv.Itoa(n)
		if l, err := os.Readlink(filepath.Join(dir, "fd", name)); err != nil || l != path {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "fdinfo", name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, found := strings.CutPrefix(line, "flags:"); found {
				if f, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64); err == nil {
					return n, int(f), true
				}
			}
		}
	}
	return 0, 0, false
}

// flagNames spells open flags as Falco does (evt.arg.flags).
func flagNames(f int) string {
	var s []string
	switch f & unix.O_ACCMODE {
	case unix.O_RDONLY:
		s = append(s, "O_RDONLY")
	case unix.O_WRONLY:
		s = append(s, "O_WRONLY")
	case unix.O_RDWR:
		s = append(s, "O_RDWR")
	}
	for _, b := range []struct {
		bit  int
		name string
	}{{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_TRUNC, "O_TRUNC"}, {unix.O_APPEND, "O_APPEND"},
		{unix.O_NONBLOCK, "O_NONBLOCK"}, {unix.O_DSYNC, "O_DSYNC"}, {unix.O_DIRECTORY, "O_DIRECTORY"},
		{unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_CLOEXEC, "O_CLOEXEC"}, {unix.O_TMPFILE &^ unix.O_DIRECTORY, "O_TMPFILE"}} {
		if f&b.bit == b.bit {
			s = append(s, b.name)
		}
	}
	return strings.Join(s, "|")
}
