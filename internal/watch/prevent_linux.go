package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// fanMetaLen is sizeof(struct fanotify_event_metadata).
const fanMetaLen = 24

// ImmutableLabel marks a container whose drifted binaries may not run.
const ImmutableLabel = "bulwark.dev/immutable"

// Preventer denies the exec of drifted binaries (files of a container's
// writable layer) in the containers it protects, with fanotify
// permission events. Each container's root filesystem is its own
// superblock (an overlay or fuse-overlayfs mount), so a filesystem mark
// on it stalls nothing outside that container; a machine-wide mark would
// stall every exec on the machine. It needs CAP_SYS_ADMIN.
type Preventer struct {
	fd int

	mu sync.Mutex
	// byDev maps a protected root filesystem's device to its container.
	byDev map[uint64]*Container
}

// Blocked is one denied exec.
type Blocked struct {
	Container *Container
	Path      string
	PID       int
}

// OpenPreventer opens the fanotify group.
func OpenPreventer() (*Preventer, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w (prevention needs CAP_SYS_ADMIN)", err)
	}
	return &Preventer{fd: fd, byDev: map[uint64]*Container{}}, nil
}

// Close ends prevention; pending execs are allowed by the kernel.
func (p *Preventer) Close() error { return unix.Close(p.fd) }

// Protect marks the container's root filesystem.
func (p *Preventer) Protect(c *Container) error {
	if c.MergedDir == "" || c.UpperDir == "" {
		return fmt.Errorf("container %s: no overlay root filesystem to protect (storage driver without an upper layer)", c.Name)
	}
	var st unix.Stat_t
	if err := unix.Stat(c.MergedDir, &st); err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	p.mu.Lock()
	_, done := p.byDev[st.Dev]
	p.mu.Unlock()
	if done {
		return nil
	}
	var rootSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err == nil && rootSt.Dev == st.Dev {
		// The mark would cover the host's own filesystem.
		return fmt.Errorf("container %s: its root filesystem is the host's: refusing a filesystem-wide permission mark", c.Name)
	}
	if err := unix.FanotifyMark(p.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, c.MergedDir); err != nil {
		return fmt.Errorf("container %s: fanotify mark: %w", c.Name, err)
	}
	p.mu.Lock()
	p.byDev[st.Dev] = c
	p.mu.Unlock()
	return nil
}

// Run answers permission events until ctx ends: an exec of a regular
// file of the container's writable layer is denied (the process gets
// EPERM) and reported to blocked; an exec that cannot be judged is
// denied too (fail closed); every other exec is allowed.
func (p *Preventer) Run(ctx context.Context, blocked func(Blocked)) error {
	buf := make([]byte, 64<<10)
	pfd := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		n, err := unix.Poll(pfd, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("fanotify: %w", err)
		}
		if n <= 0 {
			continue
		}
		n, err = unix.Read(p.fd, buf)
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
			mask := binary.LittleEndian.Uint64(b[8:])
			efd := int(int32(binary.LittleEndian.Uint32(b[16:])))
			pid := int(int32(binary.LittleEndian.Uint32(b[20:])))
			b = b[l:]
			if efd < 0 {
				continue // queue overflow: no fd to answer
			}
			resp := uint32(unix.FAN_ALLOW)
			if mask&unix.FAN_OPEN_EXEC_PERM != 0 {
				if c, path, deny := p.judge(efd); deny {
					resp = unix.FAN_DENY
					if blocked != nil {
						blocked(Blocked{Container: c, Path: path, PID: pid})
					}
				}
			}
			r := make([]byte, 8)
			binary.LittleEndian.PutUint32(r, uint32(efd))
			binary.LittleEndian.PutUint32(r[4:], resp)
			unix.Write(p.fd, r)
			unix.Close(efd)
		}
	}
	return nil
}

// judge decides one exec: the file's path inside the container, and
// whether it is drift.
func (p *Preventer) judge(efd int) (*Container, string, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(efd, &st); err != nil {
		return nil, "", true
	}
	p.mu.Lock()
	c := p.byDev[st.Dev]
	p.mu.Unlock()
	if c == nil {
		return nil, "", false // not a protected filesystem (cannot happen with filesystem marks)
	}
	// The mount is not in our namespace: the link is the path inside
	// the container's root filesystem.
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(efd))
	if err != nil {
		return c, "", true
	}
	fi, err := os.Lstat(filepath.Join(c.UpperDir, filepath.Clean("/"+path)))
	switch {
	case err == nil:
		return c, path, fi.Mode().IsRegular()
	case errors.Is(err, os.ErrNotExist):
		return c, path, false
	}
	return c, path, true
}
