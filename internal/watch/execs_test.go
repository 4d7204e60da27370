package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRuntimeProcess: runc's init, in each form /proc shows it while a
// container starts, is not judged as the workload; the workload is.
func TestRuntimeProcess(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Proc
		want bool
	}{
		{"runc init as runc names it", Proc{ContainerID: "c", Name: "exe", Exe: "/usr/bin/runc", Args: []string{"runc", "init"}}, true},
		{"runc init before re-exec", Proc{ContainerID: "c", Name: "exe", Exe: "/usr/bin/runc", Args: []string{"/proc/self/exe", "init"}}, true},
		{"runc init from a memfd", Proc{ContainerID: "c", Name: "runc:[2:INIT]", Exe: "/"}, true},
		{"memfd exe", Proc{ContainerID: "c", Name: "runc", Exe: "/memfd:runc_cloned:/proc/self/exe (deleted)"}, true},
		{"the workload", Proc{ContainerID: "c", Name: "sh", Exe: "/usr/bin/dash", Args: []string{"sh", "-c", "sleep 1"}}, false},
		{"a workload named exe", Proc{ContainerID: "c", Name: "exe", Exe: "/app/exe", Args: []string{"/app/exe", "init"}}, false},
		{"runc on the host", Proc{Name: "exe", Exe: "/usr/bin/runc", Args: []string{"/proc/self/exe", "init"}}, false},
		{"gone", Proc{ContainerID: "c", Gone: true}, false},
	} {
		if got := runtimeProcess(tc.p); got != tc.want {
			t.Errorf("%s: runtimeProcess = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestExecCache: the file source's exec opens, taken in order by the
// exec events of processes already gone; the ELF loader is not the
// program; the upper-layer test reads the container's real layer.
func TestExecCache(t *testing.T) {
	upper := t.TempDir()
	os.MkdirAll(filepath.Join(upper, "tmp"), 0o755)
	os.WriteFile(filepath.Join(upper, "tmp", "dropped"), []byte("x"), 0o755)
	os.Symlink("/bin/sh", filepath.Join(upper, "tmp", "link"))
	c := &Container{ID: "c1", UpperDir: upper}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var ec execCache
	for _, p := range []string{"/bin/sh", "/lib64/ld-linux-x86-64.so.2", "/tmp/dropped", "/lib/ld-musl-x86_64.so.1", "/tmp/link"} {
		ec.put(FileEvent{PID: 7, Container: c, Path: p}, now)
	}
	type got struct {
		Path  string
		Upper bool
	}
	var out []got
	for {
		info, ok := ec.take(7, 0)
		if !ok {
			break
		}
		out = append(out, got{info.path, info.upper})
	}
	want := []got{{"/bin/sh", false}, {"/tmp/dropped", true}, {"/tmp/link", false}}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("execs taken (-want +got):\n%s", d)
	}
	// Old entries expire when new ones come.
	ec.put(FileEvent{PID: 8, Container: c, Path: "/old"}, now)
	ec.put(FileEvent{PID: 8, Container: c, Path: "/new"}, now.Add(10*time.Second))
	if info, _ := ec.take(8, 0); info.path != "/new" {
		t.Errorf("after expiry took %q, want /new", info.path)
	}
	if _, ok := ec.take(9, 20*time.Millisecond); ok {
		t.Error("took an exec of a process that made none")
	}
}
