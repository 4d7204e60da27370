package watch

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"bulwark.dev/bulwark/internal/falco"
)

// syscallNames are the x86_64 syscalls bpf/syscalls.c reports.
var syscallNames = map[uint32]string{
	32: "dup", 33: "dup2", 41: "socket", 42: "connect", 43: "accept", 86: "link", 88: "symlink",
	101: "ptrace", 175: "init_module", 265: "linkat", 266: "symlinkat", 288: "accept4", 292: "dup3",
	313: "finit_module",
	59:  "execve", // from sched_process_exec: Path1 is the program
}

// SyscallEvent is one syscall the eBPF source reported at its exit.
type SyscallEvent struct {
	PID, TID int
	Syscall  string
	Res      int64
	Args     [4]uint64
	// Domain and SockType are the socket's (AF_INET, SOCK_STREAM), 0
	// when it was made before the agent started.
	Domain, SockType int
	// Addr is connect's server or accept's peer; Family is its address
	// family (0 when it could not be read).
	Addr   netip.AddrPort
	Family int
	// Path1 and Path2 are the link syscalls' target and link path.
	Path1, Path2 string
	// Sock is what /proc said of the socket as the event was read.
	Sock *sockInfo
	// At is when the agent read the event.
	At time.Time
	// Comm is the thread's name and ContainerID the container ID in its
	// cgroup's name, as the kernel saw them: what is known of a process
	// that exited before /proc was read.
	Comm, ContainerID string
	// CapEff is the thread's effective capabilities at the call; Exe the
	// program the process last exec'd ("" when that was before the agent
	// started).
	CapEff uint64
	Exe    string
}

// syscallEventSize is sizeof(struct event) in bpf/syscalls.c.
const syscallEventSize = 976

// decodeSyscallEvent reads one ring buffer record (struct event).
func decodeSyscallEvent(b []byte) (SyscallEvent, error) {
	if len(b) < syscallEventSize {
		return SyscallEvent{}, fmt.Errorf("ebpf: short event record: %d bytes, want %d", len(b), syscallEventSize)
	}
	le := binary.LittleEndian
	nr := le.Uint32(b[48:])
	ev := SyscallEvent{
		PID: int(le.Uint32(b[0:])), TID: int(le.Uint32(b[4:])), Res: int64(le.Uint64(b[8:])),
		Syscall: syscallNames[nr],
	}
	if ev.Syscall == "" {
		return SyscallEvent{}, fmt.Errorf("ebpf: event for syscall %d, which the programs do not report", nr)
	}
	for i := range ev.Args {
		ev.Args[i] = le.Uint64(b[16+8*i:])
	}
	st := le.Uint32(b[52:])
	ev.Domain, ev.SockType = int(st>>16), int(st&0xffff)
	if le.Uint32(b[84:]) != 0 {
		ev.Family, ev.Addr = sockaddr(b[56:84])
	}
	ev.Path1, ev.Path2 = cString(b[88:344]), cString(b[344:600])
	ev.Comm = cString(b[600:616])
	ev.ContainerID = containerIDRE.FindString(cString(b[616:712]))
	ev.CapEff = le.Uint64(b[712:])
	ev.Exe = cString(b[720:976])
	return ev, nil
}

// sockaddr reads a struct sockaddr_in or sockaddr_in6 (other families:
// only the family).
func sockaddr(b []byte) (int, netip.AddrPort) {
	fam := int(binary.LittleEndian.Uint16(b))
	port := binary.BigEndian.Uint16(b[2:])
	switch fam {
	case unix.AF_INET:
		return fam, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case unix.AF_INET6:
		return fam, netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), port)
	}
	return fam, netip.AddrPort{}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// sockInfo is a socket as /proc/PID/net shows it.
type sockInfo struct {
	proto         string // tcp, udp, raw
	local, remote netip.AddrPort
}

// socketInfo finds the socket behind a process's descriptor in its
// network namespace's tables (/proc/PID/net/tcp, udp, raw and their
// IPv6 twins): the local end of a connect, the l4 protocol of a socket
// made before the agent started. nil when the process or its descriptor
// is gone.
func (p ProcFS) socketInfo(pid, fd int) *sockInfo {
	dir := filepath.Join(p.root(), strconv.Itoa(pid))
	link, err := os.Readlink(filepath.Join(dir, "fd", strconv.Itoa(fd)))
	if err != nil {
		return nil
	}
	inode, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return nil
	}
	inode = strings.TrimSuffix(inode, "]")
	for _, t := range []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6"} {
		if si := findSocket(filepath.Join(dir, "net", t), strings.TrimSuffix(t, "6"), inode); si != nil {
			return si
		}
	}
	return nil
}

func findSocket(path, proto, inode string) *sockInfo {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[9] != inode {
			continue
		}
		l, err1 := procNetAddr(fs[1])
		r, err2 := procNetAddr(fs[2])
		if err1 != nil || err2 != nil {
			return nil
		}
		return &sockInfo{proto: proto, local: l, remote: r}
	}
	return nil
}

// procNetAddr reads /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words in host (little-endian) order, the port in hex.
func procNetAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port in %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// resString is Falco's evt.res: SUCCESS or the errno's name.
func resString(res int64) string {
	if res >= 0 {
		return "SUCCESS"
	}
	if n := unix.ErrnoName(syscall.Errno(-res)); n != "" {
		return n
	}
	return strconv.FormatInt(res, 10)
}

var ptraceRequests = map[uint64]string{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
	4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
	8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
	14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH",
	18: "PTRACE_GETFPXREGS", 19: "PTRACE_SETFPXREGS", 24: "PTRACE_SYSCALL", 0x4200: "PTRACE_SETOPTIONS",
	0x4201: "PTRACE_GETEVENTMSG", 0x4202: "PTRACE_GETSIGINFO", 0x4203: "PTRACE_SETSIGINFO",
	0x4204: "PTRACE_GETREGSET", 0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE",
	0x4207: "PTRACE_INTERRUPT", 0x4208: "PTRACE_LISTEN",
}

var socketDomains = map[int]string{
	unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET",
}

var socketTypes = map[int]string{
	unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
	unix.SOCK_SEQPACKET: "SOCK_SEQPACKET",
}

func named(m map[int]string, v int) string {
	if s, ok := m[v]; ok {
		return s
	}
	return strconv.Itoa(v)
}

// syscallEvent builds the Falco event of a syscall: the process (and its
// container) as for an exec, then the syscall's own fields.
func (a *Agent) syscallEvent(ctx context.Context, sn snap, ev SyscallEvent) falco.Event {
	if !ev.At.IsZero() {
		sn.at = ev.At // the kernel's time of the call, not the reader's
	}
	e := a.event(ctx, sn)
	delete(e, "proc.is_exe_upper_layer")
	// The capabilities at the call, as the kernel saw them: /proc says
	// only what they are when it is read, if the process is still there.
	// (An event with none recorded, from a replay, keeps /proc's.)
	if ev.CapEff != 0 || sn.p.Gone {
		e["thread.cap_effective"] = capString(ev.CapEff)
	}
	if sn.p.Gone {
		// Exited before /proc was read: what the kernel said.
		e["proc.name"] = ev.Comm
		if ev.Exe != "" {
			e["proc.exe"], e["proc.exepath"] = ev.Exe, ev.Exe
		}
		if ev.ContainerID == "" {
			e["container.id"], e["container.name"] = "host", "host"
		} else if c := a.container(ctx, ev.ContainerID); c != nil {
			containerFields(e, c)
		} else {
			e["container.id"] = shortID(ev.ContainerID)
		}
	}
	e["evt.type"], e["evt.dir"] = ev.Syscall, "<"
	e["evt.rawres"], e["evt.res"] = ev.Res, resString(ev.Res)
	arg := func(name string, v any) { e[falco.Key("evt.arg", name)] = v }
	switch ev.Syscall {
	case "connect", "accept", "accept4", "dup", "dup2", "dup3":
		socketFields(e, ev)
	case "socket":
		dom, typ := named(socketDomains, int(ev.Args[0])), named(socketTypes, int(ev.Args[1]&0xf))
		arg("domain", dom)
		arg("type", typ)
		arg("proto", strconv.FormatUint(ev.Args[2], 10))
		e["evt.args"] = fmt.Sprintf("domain=%d(%s) type=%d(%s) proto=%d", ev.Args[0], dom, ev.Args[1], typ, ev.Args[2])
		e["fd.num"] = ev.Res
	case "ptrace":
		req, ok := ptraceRequests[ev.Args[0]]
		if !ok {
			req = strconv.FormatUint(ev.Args[0], 10)
		}
		arg("request", req)
		arg("pid", strconv.FormatUint(ev.Args[1], 10))
		e["evt.args"] = fmt.Sprintf("request=%s pid=%d", req, int64(ev.Args[1]))
	case "symlink", "symlinkat":
		arg("target", ev.Path1)
		arg("linkpath", ev.Path2)
		e["evt.args"] = "target=" + ev.Path1 + " linkpath=" + ev.Path2
	case "link", "linkat":
		arg("oldpath", ev.Path1)
		arg("newpath", ev.Path2)
		e["evt.args"] = "oldpath=" + ev.Path1 + " newpath=" + ev.Path2
	}
	return e
}

// socketFields fills Falco's fd.* fields of a socket: server and client
// ends (connect: the server is the address connected to; accept: the
// client is the peer), local and remote, and the both-ends fields.
func socketFields(e falco.Event, ev SyscallEvent) {
	fd := int64(ev.Args[0])
	if ev.Syscall != "connect" {
		fd = ev.Res // accept's and dup's new descriptor
	}
	e["fd.num"] = fd
	si := ev.Sock
	proto := map[int]string{unix.SOCK_STREAM: "tcp", unix.SOCK_DGRAM: "udp", unix.SOCK_RAW: "raw"}[ev.SockType]
	if proto == "" && si != nil {
		proto = si.proto
	}
	var local, remote netip.AddrPort
	if si != nil {
		local, remote = si.local, si.remote
	}
	if ev.Family == unix.AF_INET || ev.Family == unix.AF_INET6 {
		remote = ev.Addr // what the syscall itself said wins over /proc
	}
	if !remote.IsValid() && !local.IsValid() {
		// No address (the process exited before /proc was read, or a
		// Unix socket): what the kernel said the socket was.
		switch {
		case ev.Family == unix.AF_UNIX || ev.Domain == unix.AF_UNIX:
			e["fd.typechar"], e["fd.type"], e["fd.sockfamily"] = "u", "unix", "unix"
		case ev.Domain == unix.AF_INET:
			e["fd.typechar"], e["fd.type"], e["fd.sockfamily"] = "4", "ipv4", "ip"
		case ev.Domain == unix.AF_INET6:
			e["fd.typechar"], e["fd.type"], e["fd.sockfamily"] = "6", "ipv6", "ip"
		}
		if proto != "" && ev.Domain != unix.AF_UNIX {
			e["fd.l4proto"] = proto
		}
		return
	}
	ip := remote.Addr()
	if !ip.IsValid() {
		ip = local.Addr()
	}
	if ip.Is4() {
		e["fd.typechar"], e["fd.type"] = "4", "ipv4"
	} else {
		e["fd.typechar"], e["fd.type"] = "6", "ipv6"
	}
	e["fd.sockfamily"] = "ip"
	if proto != "" {
		e["fd.l4proto"] = proto
	}
	client, server := local, remote
	if ev.Syscall == "accept" || ev.Syscall == "accept4" {
		client, server = remote, local
	}
	e["fd.connected"] = ev.Res >= 0 || ev.Res == -int64(unix.EINPROGRESS)
	e["fd.name_changed"] = false
	ends := func(prefix string, ap netip.AddrPort) {
		if !ap.IsValid() {
			return
		}
		e["fd."+prefix+"ip"] = ap.Addr().String()
		e["fd."+prefix+"net"] = ap.Addr().String()
		e["fd."+prefix+"port"] = int64(ap.Port())
	}
	ends("s", server)
	ends("c", client)
	ends("l", local)
	ends("r", remote)
	var ips, ports []string
	for _, ap := range []netip.AddrPort{client, server} {
		if ap.IsValid() {
			ips, ports = append(ips, ap.Addr().String()), append(ports, strconv.Itoa(int(ap.Port())))
		}
	}
	e["fd.ip"], e["fd.net"], e["fd.port"] = ips, ips, ports
	name := server.String()
	if client.IsValid() {
		name = client.String() + "->" + server.String()
	}
	e["fd.name"], e["fd.nameraw"] = name, name
}
