package watch

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
)

// ImmutableLabel marks a container whose drifted binaries may not run.
const ImmutableLabel = "bulwark.dev/immutable"

// Preventer denies the exec of drifted binaries (files of a container's
// writable layer) in the containers it protects, with fanotify
// permission events. Each container's root filesystem is its own
// superblock (an overlay or fuse-overlayfs mount), so a filesystem mark
// on it stalls nothing outside that container; a machine-wide mark would
// stall every exec on the machine. It needs CAP_SYS_ADMIN.
type Preventer struct{ g *fanGroup }

// Blocked is one denied exec.
type Blocked struct {
	Container *Container
	Path      string
	PID       int
}

// OpenPreventer opens the fanotify group.
func OpenPreventer() (*Preventer, error) {
	g, err := openFanGroup(unix.FAN_CLASS_CONTENT)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w (prevention needs CAP_SYS_ADMIN)", err)
	}
	return &Preventer{g: g}, nil
}

// Close ends prevention; pending execs are allowed by the kernel.
func (p *Preventer) Close() error { return p.g.close() }

// Protect marks the container's root filesystem.
func (p *Preventer) Protect(c *Container) error { return p.g.mark(c, unix.FAN_OPEN_EXEC_PERM) }

// Run answers permission events until ctx ends: an exec of a regular
// file of the container's writable layer is denied (the process gets
// EPERM) and reported to blocked; an exec that cannot be judged is
// denied too (fail closed); every other exec is allowed.
func (p *Preventer) Run(ctx context.Context, blocked func(Blocked)) error {
	return p.g.read(ctx, func(ev fanEvent) bool {
		if ev.overflow || ev.mask&unix.FAN_OPEN_EXEC_PERM == 0 {
			return false
		}
		c, path, deny := p.judge(ev.fd)
		if deny && blocked != nil {
			blocked(Blocked{Container: c, Path: path, PID: ev.pid})
		}
		return deny
	})
}

// judge decides one exec: the file's path inside the container, and
// whether it is drift.
func (p *Preventer) judge(efd int) (*Container, string, bool) {
	c, path, _, _, err := p.g.file(efd)
	if c == nil {
		return nil, path, err != nil // not a protected filesystem (cannot happen with filesystem marks)
	}
	if err != nil {
		return c, path, true
	}
	drift, err := c.inUpperLayer(path)
	return c, path, drift || err != nil // fail closed
}
