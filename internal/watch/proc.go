package watch

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proc is what /proc tells about a process. A process that exited
// before it was read has only PID set (and Gone): it is still reported.
type Proc struct {
	PID, PPID int
	Name      string // comm
	Exe       string // the executable's path
	Args      []string
	Cwd       string
	UID       int
	TTY       int
	// CgroupID is the container ID found in the cgroup paths ("" on the
	// host).
	ContainerID string
	Gone        bool
	// Start is when the process started (0 when unknown); CapEff its
	// effective capabilities.
	Start  time.Time
	CapEff uint64
}

// ProcFS reads processes under Root ("/proc" by default).
type ProcFS struct{ Root string }

func (p ProcFS) root() string {
	if p.Root == "" {
		return "/proc"
	}
	return p.Root
}

// containerIDRE finds a 64-hex container ID in a cgroup path: Docker's
// /docker/ID, systemd's docker-ID.scope, cri-containerd-ID.scope,
// crio-ID, Kubernetes' kubepods/.../ID.
var containerIDRE = regexp.MustCompile(`[0-9a-f]{64}`)

// Read reads one process.
func (p ProcFS) Read(pid int) Proc {
	dir := filepath.Join(p.root(), strconv.Itoa(pid))
	pr := Proc{PID: pid}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		pr.Gone = true
		return pr
	}
	// comm is in parentheses and may hold spaces and parentheses.
	if i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')'); i >= 0 && j > i {
		pr.Name = string(stat[i+1 : j])
		f := strings.Fields(string(stat[j+1:]))
		if len(f) > 4 {
			pr.PPID, _ = strconv.Atoi(f[1])
			pr.TTY, _ = strconv.Atoi(f[4])
		}
		if len(f) > 19 {
			// starttime, in clock ticks (USER_HZ, 100 on Linux) since boot.
			if ticks, err := strconv.ParseInt(f[19], 10, 64); err == nil && bootTime() > 0 {
				pr.Start = time.Unix(0, bootTime()+ticks*int64(10*time.Millisecond))
			}
		}
	}
	pr.Exe, _ = os.Readlink(filepath.Join(dir, "exe"))
	pr.Exe = strings.TrimSuffix(pr.Exe, " (deleted)")
	pr.Cwd, _ = os.Readlink(filepath.Join(dir, "cwd"))
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		for _, a := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
			pr.Args = append(pr.Args, string(a))
		}
	}
	if f, err := os.Open(filepath.Join(dir, "status")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if fs := strings.Fields(rest); len(fs) > 1 {
					pr.UID, _ = strconv.Atoi(fs[1]) // effective
				}
			} else if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
				pr.CapEff, _ = strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
				break // after Uid
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		pr.ContainerID = containerIDRE.FindString(string(b))
	}
	return pr
}

// bootTime is when the machine booted, in Unix nanoseconds (0 when
// /proc/stat cannot say).
var bootTime = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n * int64(time.Second)
		}
	}
	return 0
})

// capNames are the capabilities in bit order (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// capString is Falco's thread.cap_effective: the names, space-separated.
func capString(set uint64) string {
	var names []string
	for i, n := range capNames {
		if set&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}

// userName looks uid up in the passwd file of the process's root (the
// container's own /etc/passwd).
func (p ProcFS) userName(pid, uid int) string {
	b, err := os.ReadFile(filepath.Join(p.root(), strconv.Itoa(pid), "root", "etc", "passwd"))
	if err != nil {
		if uid == 0 {
			return "root"
		}
		return "<NA>"
	}
	want := strconv.Itoa(uid)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[2] == want {
			return f[0]
		}
	}
	return "<NA>"
}
