package watch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/testenv"
)

// probeSource does one syscall the eBPF source reports, as a process in
// a container would: go build it static and bind-mount it in.
const probeSource = `package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	var err error
	switch os.Args[1] {
	case "connect": // non-blocking, as Go dials: the syscall says EINPROGRESS
		var c net.Conn
		if c, err = (&net.Dialer{Timeout: 300 * time.Millisecond}).Dial("tcp", os.Args[2]); err == nil {
			c.Close()
		}
		err = nil
	case "traceme":
		_, _, e := syscall.Syscall6(syscall.SYS_PTRACE, 0, 0, 0, 0, 0, 0)
		if e != 0 {
			err = e
		}
	case "symlink":
		err = syscall.Symlink(os.Args[2], os.Args[3])
	case "link":
		err = syscall.Link(os.Args[2], os.Args[3])
	case "socket":
		dom := map[string]int{"packet": syscall.AF_PACKET, "inet": syscall.AF_INET}[os.Args[2]]
		var fd int
		if fd, err = syscall.Socket(dom, syscall.SOCK_DGRAM, 0); err == nil {
			syscall.Close(fd)
		}
	case "dup": // a UDP socket connected to a server, onto stdout
		var fd int
		if fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0); err == nil {
			if err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: 53, Addr: [4]byte{203, 0, 113, 5}}); err == nil {
				err = syscall.Dup3(fd, 1, 0)
			}
		}
	case "module": // no module: the attempt is what the rule judges
		empty, _ := syscall.BytePtrFromString("")
		_, _, e := syscall.Syscall(313 /* finit_module, amd64 */, ^uintptr(0), uintptr(unsafe.Pointer(empty)), 0)
		fmt.Fprintln(os.Stderr, "finit_module:", e)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
		os.Exit(1)
	}
}
`

// TestSyscallRulesOnRealContainers loads the eBPF programs into the
// machine's kernel (the file source off) and runs the stable Falco rules
// that need them on containers that do the thing, and on twins that do
// the harmless version: each rule fires for the first and never for the
// second.
func TestSyscallRulesOnRealContainers(t *testing.T) { syscallRules(t, withSyscalls, nil) }

// TestSyscallRulesWhenProcessesAreGone runs the rules that need a
// process's program and capabilities with /proc unreadable, as when a
// process exits before the agent reads it: the kernel's report (the
// program sched_process_exec saw, the capabilities at the call) decides.
func TestSyscallRulesWhenProcessesAreGone(t *testing.T) {
	syscallRules(t, withSyscalls|withoutProc, []string{"ssh4444", "ssh22", "module", "modnocap"})
}

// syscallRules runs the probe containers (only those named in only,
// when given) under an agent with sources.
func syscallRules(t *testing.T, sources int, only []string) {
	needRoot(t)
	img := debianImage(t)
	stable := testenv.CorpusPath(t, "runtime", "falco", "falco_rules.yaml")
	bin := t.TempDir()
	prog := testenv.StaticProgram(t, probeSource)
	for _, name := range []string{"probe", "ssh"} {
		b, err := os.ReadFile(prog)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := startAgent(t, []string{stable}, sources)
	suffix := fmt.Sprint(time.Now().UnixNano())
	type run struct {
		name string
		args []string
		cap  string
		// rule is the alert the container must raise ("" for a twin,
		// which must raise none of the rules below).
		rule string
	}
	runs := []run{
		{"ssh4444", []string{"/probe/ssh", "connect", "203.0.113.5:4444"}, "", "Disallowed SSH Connection Non Standard Port"},
		{"ssh22", []string{"/probe/ssh", "connect", "203.0.113.5:22"}, "", ""},
		{"traceme", []string{"/probe/probe", "traceme"}, "", "PTRACE anti-debug attempt"},
		{"symshadow", []string{"/probe/probe", "symlink", "/etc/shadow", "/tmp/s"}, "", "Create Symlink Over Sensitive Files"},
		{"symhost", []string{"/probe/probe", "symlink", "/etc/hostname", "/tmp/s"}, "", ""},
		{"linkshadow", []string{"/probe/probe", "link", "/etc/shadow", "/tmp/h"}, "", "Create Hardlink Over Sensitive Files"},
		{"packet", []string{"/probe/probe", "socket", "packet"}, "", "Packet socket created in container"},
		{"inet", []string{"/probe/probe", "socket", "inet"}, "", ""},
		{"dup", []string{"/probe/probe", "dup"}, "", "Redirect STDOUT/STDIN to Network Connection in Container"},
		{"module", []string{"/probe/probe", "module"}, "SYS_MODULE", "Linux Kernel Module Injection Detected"},
		{"modnocap", []string{"/probe/probe", "module"}, "", ""},
		// Without the file source, the drift of a process that may be
		// gone before /proc is read is known from sched_process_exec.
		{"drift", []string{"sh", "-c", "cp /probe/probe /tmp/p && /tmp/p socket inet"}, "", "Drifted binary executed (bulwark)"},
	}
	if only != nil {
		runs = slices.DeleteFunc(runs, func(r run) bool { return !slices.Contains(only, r.name) })
	}
	rules := map[string]bool{}
	var names []string
	for _, r := range runs {
		if r.rule != "" {
			rules[r.rule] = true
		}
		names = append(names, "bw-sys-"+r.name+"-"+suffix)
	}
	t.Cleanup(func() { exec.Command("docker", append([]string{"rm", "-f"}, names...)...).Run() })
	for i, r := range runs {
		args := []string{"run", "--name", names[i], "-v", bin + ":/probe:ro"}
		if r.cap != "" {
			args = append(args, "--cap-add", r.cap)
		}
		docker(t, append(append(args, img), r.args...)...)
	}
	var got map[[2]string]bool
	complete := func() bool {
		for i, r := range runs {
			if r.rule != "" && !got[[2]string{names[i], r.rule}] {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got = map[[2]string]bool{}
		for _, al := range out.alerts(t) {
			cname, _ := al.OutputFields["container.name"].(string)
			got[[2]string{cname, al.Rule}] = true
		}
		if complete() {
			break
		}
	}
	for i, r := range runs {
		if r.rule != "" && !got[[2]string{names[i], r.rule}] {
			t.Errorf("%s: no %q alert", r.name, r.rule)
		}
		for k := range got {
			if k[0] == names[i] && rules[k[1]] && k[1] != r.rule {
				t.Errorf("%s raised %q", r.name, k[1])
			}
		}
	}
}
