package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// fanMetaLen is sizeof(struct fanotify_event_metadata).
const fanMetaLen = 24

// fanGroup is a fanotify group with one filesystem mark per container
// root filesystem. Each container's root is its own superblock (an
// overlay or fuse-overlayfs mount), so a filesystem mark sees that
// container's files only; a machine-wide mark would see (and, for
// permission events, stall) every process on the machine.
type fanGroup struct {
	fd int

	mu sync.Mutex
	// byDev maps a marked root filesystem's device to its container.
	// Anonymous device numbers are reused once a container's overlay is
	// unmounted (its mark goes with it), so an entry for another
	// container on the same device is replaced and marked again.
	byDev map[uint64]*Container
}

func openFanGroup(class uint) (*fanGroup, error) {
	fd, err := unix.FanotifyInit(class|unix.FAN_CLOEXEC, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &fanGroup{fd: fd, byDev: map[uint64]*Container{}}, nil
}

func (g *fanGroup) close() error { return unix.Close(g.fd) }

// mark adds a filesystem mark for mask on the container's root
// filesystem.
func (g *fanGroup) mark(c *Container, mask uint64) error {
	if c.MergedDir == "" || c.UpperDir == "" {
		return fmt.Errorf("container %s: no overlay root filesystem (storage driver without an upper layer)", c.Name)
	}
	var st unix.Stat_t
	if err := unix.Stat(c.MergedDir, &st); err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	g.mu.Lock()
	old := g.byDev[st.Dev]
	g.mu.Unlock()
	if old != nil && old.ID == c.ID {
		return nil
	}
	var rootSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err == nil && rootSt.Dev == st.Dev {
		return fmt.Errorf("container %s: its root filesystem is the host's: refusing a filesystem-wide mark", c.Name)
	}
	if err := unix.FanotifyMark(g.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, mask, unix.AT_FDCWD, c.MergedDir); err != nil {
		return fmt.Errorf("container %s: fanotify mark: %w", c.Name, err)
	}
	g.mu.Lock()
	g.byDev[st.Dev] = c
	g.mu.Unlock()
	return nil
}

// fanEvent is one fanotify event; fd is open during the callback only.
type fanEvent struct {
	mask     uint64
	fd, pid  int
	overflow bool
}

// read delivers events until ctx ends; for a permission event, fn's
// result denies it.
func (g *fanGroup) read(ctx context.Context, fn func(fanEvent) (deny bool)) error {
	buf := make([]byte, 64<<10)
	resp := make([]byte, 8)
	pfd := []unix.PollFd{{Fd: int32(g.fd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		n, err := unix.Poll(pfd, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("fanotify: %w", err)
		}
		if n <= 0 {
			continue
		}
		n, err = unix.Read(g.fd, buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return fmt.Errorf("fanotify: %w", err)
		}
		b := buf[:n]
		for len(b) >= fanMetaLen {
			l := int(binary.LittleEndian.Uint32(b))
			if l < fanMetaLen || l > len(b) {
				break
			}
			ev := fanEvent{mask: binary.LittleEndian.Uint64(b[8:]), fd: int(int32(binary.LittleEndian.Uint32(b[16:]))), pid: int(int32(binary.LittleEndian.Uint32(b[20:])))}
			b = b[l:]
			if ev.fd < 0 {
				// Queue overflow: events were lost and there is no fd.
				fn(fanEvent{mask: ev.mask, fd: -1, overflow: ev.mask&unix.FAN_Q_OVERFLOW != 0})
				continue
			}
			deny := fn(ev)
			if ev.mask&(unix.FAN_OPEN_EXEC_PERM|unix.FAN_OPEN_PERM|unix.FAN_ACCESS_PERM) != 0 {
				r := uint32(unix.FAN_ALLOW)
				if deny {
					r = unix.FAN_DENY
				}
				binary.LittleEndian.PutUint32(resp, uint32(ev.fd))
				binary.LittleEndian.PutUint32(resp[4:], r)
				unix.Write(g.fd, resp)
			}
			unix.Close(ev.fd)
		}
	}
	return nil
}

// file names an event's file: its container, its path inside the
// container's root filesystem and its inode.
func (g *fanGroup) file(efd int) (c *Container, path string, dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(efd, &st); err != nil {
		return nil, "", 0, 0, err
	}
	g.mu.Lock()
	c = g.byDev[st.Dev]
	g.mu.Unlock()
	// The container's mount is not reachable from our root: the link
	// reads as the path inside the container's root filesystem.
	path, err = os.Readlink("/proc/self/fd/" + strconv.Itoa(efd))
	return c, path, st.Dev, st.Ino, err
}
