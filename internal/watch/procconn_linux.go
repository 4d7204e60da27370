package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The kernel's process connector (linux/cn_proc.h).
const (
	cnIdxProc         = 0x1
	cnValProc         = 0x1
	procCnMcastListen = 1
	procEventFork     = 0x00000001
	procEventExec     = 0x00000002
	procEventExit     = 0x80000000
	nlmsgHdrLen       = 16
	cnMsgLen          = 20
)

// ProcEvent is one event of the process connector.
type ProcEvent struct {
	// Kind is "exec", "fork" or "exit".
	Kind string
	PID  int
	// PPID is the parent for fork events.
	PPID int
	// ExitCode is set for exit events.
	ExitCode int
}

// ProcConnector streams process events from the kernel's process
// connector (netlink). It needs CAP_NET_ADMIN and sees every process on
// the machine.
type ProcConnector struct {
	fd int
}

// OpenProcConnector subscribes to process events.
func OpenProcConnector() (*ProcConnector, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process connector: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc, Pid: uint32(os.Getpid())}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: bind: %w (needs CAP_NET_ADMIN)", err)
	}
	// A large receive buffer: a burst of execs (a build) must not drop
	// events.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	binary.LittleEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.LittleEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.LittleEndian.PutUint32(msg[12:], uint32(os.Getpid()))
	binary.LittleEndian.PutUint32(msg[16:], cnIdxProc)
	binary.LittleEndian.PutUint32(msg[20:], cnValProc)
	binary.LittleEndian.PutUint16(msg[32:], 4)
	binary.LittleEndian.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: subscribe: %w", err)
	}
	return &ProcConnector{fd: fd}, nil
}

// Close stops the stream.
func (p *ProcConnector) Close() error { return unix.Close(p.fd) }

// Run sends events to fn until ctx ends or the socket fails. ENOBUFS
// (the kernel dropped events under load) is reported to lost and the
// stream goes on.
func (p *ProcConnector) Run(ctx context.Context, fn func(ProcEvent), lost func()) error {
	buf := make([]byte, 64<<10)
	tv := unix.Timeval{Usec: 200000}
	unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(p.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			if lost != nil {
				lost()
			}
			continue
		case err != nil:
			return fmt.Errorf("process connector: %w", err)
		}
		parseProcEvents(buf[:n], fn)
	}
	return nil
}

// parseProcEvents reads the netlink messages in b.
func parseProcEvents(b []byte, fn func(ProcEvent)) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.LittleEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return
		}
		msg := b[nlmsgHdrLen:l]
		b = b[(l+3)&^3:]
		if len(msg) < cnMsgLen+16 {
			continue
		}
		ev := msg[cnMsgLen:]
		what := binary.LittleEndian.Uint32(ev[0:])
		data := ev[16:]
		u32 := func(i int) int {
			if len(data) < i+4 {
				return 0
			}
			return int(binary.LittleEndian.Uint32(data[i:]))
		}
		switch what {
		case procEventExec:
			// Only thread-group leaders: a thread's exec is its process's.
			if u32(0) == u32(4) {
				fn(ProcEvent{Kind: "exec", PID: u32(4)})
			}
		case procEventFork:
			if u32(8) == u32(12) {
				fn(ProcEvent{Kind: "fork", PID: u32(12), PPID: u32(4)})
			}
		case procEventExit:
			if u32(0) == u32(4) {
				fn(ProcEvent{Kind: "exit", PID: u32(4), ExitCode: u32(8)})
			}
		}
	}
}
