package watch

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				if fs := strings.Fields(rest); len(fs) > 1 {
					pr.UID, _ = strconv.Atoi(fs[1]) // effective
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		pr.ContainerID = containerIDRE.FindString(string(b))
	}
	return pr
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
