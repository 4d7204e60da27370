package dockerbench

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/testenv"
)

// fakeRoot builds a host filesystem under a temporary directory.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if target, ok := strings.CutPrefix(body, "symlink:"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestResolveInStaysInside: links, absolute or relative, and ".." are
// resolved inside the root, never out of it.
func TestResolveInStaysInside(t *testing.T) {
	root := fakeRoot(t, map[string]string{
		"usr/sbin/runc":     "binary",
		"usr/bin/runc":      "symlink:../sbin/runc",
		"lib":               "symlink:/usr/lib",
		"usr/lib/x/unit":    "unit",
		"etc/escape":        "symlink:/etc/shadow",
		"etc/up":            "symlink:../../../../../usr/sbin/runc",
		"etc/loop":          "symlink:/etc/loop",
		"etc/docker/d.json": "{}",
	})
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"/usr/bin/runc", "/usr/sbin/runc", true},
		{"/lib/x/unit", "/usr/lib/x/unit", true},
		{"/etc/up", "/usr/sbin/runc", true},
		{"/etc/escape", "", false}, // the host's /etc/shadow is not looked at
		{"/etc/loop", "", false},
		{"/etc/docker/d.json", "/etc/docker/d.json", true},
	} {
		got, ok := resolveIn(root, tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("resolveIn(%s) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestGatherHostFiles: the host part of a snapshot read from a host
// filesystem under a directory (--root), with the machine's engine for
// the API part.
func TestGatherHostFiles(t *testing.T) {
	testenv.NeedDocker(t)
	dc, err := image.NewDockerClient("")
	if err != nil {
		t.Fatal(err)
	}
	var info EngineInfo
	if err := dc.GetJSON(context.Background(), "/info", &info); err != nil {
		t.Fatalf("the Docker Engine is not reachable: %v", err)
	}
	root := fakeRoot(t, map[string]string{
		"etc/docker/daemon.json":             `{"icc": false, "tlsverify": true, "tlscacert": "/etc/docker/ca.pem"}`,
		"etc/docker/ca.pem":                  "cert",
		"etc/docker/certs.d/reg:5000/ca.crt": "cert",
		"lib/systemd/system/docker.service":  "symlink:/etc/shadow",
		"run/systemd/x/docker.socket":        "unit",
		"etc/group":                          "root:x:0:\ndocker:x:999:alice,bob\n",
		"etc/audit/audit.rules":              "# comment\n-w /usr/bin/dockerd -k docker\n\n",
		"proc/self/mountinfo":                "25 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 25 8:2 / " + info.DockerRootDir + " rw - ext4 /dev/sda2 rw\n",
	})
	os.Chmod(filepath.Join(root, "etc/docker/daemon.json"), 0o466)
	os.MkdirAll(filepath.Join(root, "var/run"), 0o755)
	l, err := net.Listen("unix", filepath.Join(root, "var/run/docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	h, err := Gather(context.Background(), dc, GatherOptions{Root: root, Getenv: func(string) string { return "1" }})
	if err != nil {
		t.Fatal(err)
	}
	if f := h.Files["/etc/docker/daemon.json"]; f.Mode != 0o466 || f.Type != "file" || (os.Geteuid() == 0 && f.User != "root") {
		t.Errorf("daemon.json = %+v", f)
	}
	if f := h.Files["/var/run/docker.sock"]; f.Type != "socket" {
		t.Errorf("docker.sock = %+v", f)
	}
	if _, ok := h.Files["/etc/docker/ca.pem"]; !ok {
		t.Error("the TLS CA named in daemon.json was not read")
	}
	if want := map[string]string{"docker.service": "", "docker.socket": "/run/systemd/x/docker.socket", "containerd.sock": ""}; !cmp.Equal(h.Units, want) {
		t.Errorf("units = %v, want %v (a unit linking out of the root is not the host's)", h.Units, want)
	}
	if d := cmp.Diff([]string{"alice", "bob"}, h.DockerGroup); d != "" {
		t.Errorf("docker group: %s", d)
	}
	if h.Audit.Source != "/etc/audit/audit.rules" || len(h.Audit.Rules) != 2 {
		t.Errorf("audit = %+v", h.Audit)
	}
	if len(h.RegistryCerts) != 1 || !h.RootIsMount || h.ContentTrust != "1" {
		t.Errorf("certs %v, root is a mount %v, content trust %q", h.RegistryCerts, h.RootIsMount, h.ContentTrust)
	}

	// A daemon.json the engine could not read either is an error of its
	// own, not an engine failure.
	os.WriteFile(filepath.Join(root, "etc/docker/daemon.json"), []byte(`{"icc": `), 0o644)
	_, err = Gather(context.Background(), dc, GatherOptions{Root: root})
	var ee *EngineError
	if err == nil || errors.As(err, &ee) {
		t.Fatalf("err = %v, want a daemon.json error", err)
	}
	// No engine: an engine error.
	dead, _ := image.NewDockerClient("unix://" + filepath.Join(root, "none.sock"))
	if _, err := Gather(context.Background(), dead, GatherOptions{}); !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an engine error", err)
	}
}
