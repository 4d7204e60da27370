package dockerbench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/checks"
)

var now = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

// baseHost is a well-kept host: every file root-owned and tight, audit
// rules for every path, a hardened daemon and one hardened container.
func baseHost() *Host {
	h := &Host{
		Version:     Version{Version: "27.3.1"},
		DaemonArgs:  []string{"/usr/bin/dockerd", "-H", "fd://"},
		Config:      map[string]any{"icc": false, "userns-remap": "default", "no-new-privileges": true, "live-restore": true, "userland-proxy": false, "authorization-plugins": []any{"authz"}, "default-ulimits": map[string]any{"nofile": "1024"}},
		Units:       map[string]string{"docker.service": "/lib/systemd/system/docker.service", "docker.socket": "/lib/systemd/system/docker.socket", "containerd.sock": "/run/containerd/containerd.sock"},
		Files:       map[string]File{},
		DockerGroup: []string{},
		RootIsMount: true,
	}
	h.Info.DockerRootDir = "/var/lib/docker"
	h.Info.Driver = "overlay2"
	h.Info.LoggingDriver = "syslog"
	h.Info.SecurityOptions = []string{"name=seccomp,profile=default", "name=userns"}
	h.Info.Swarm.LocalNodeState = "inactive"
	h.Info.LiveRestoreEnabled = true
	add := func(p, typ string, mode uint32, group string) {
		h.Files[p] = File{Path: p, Type: typ, Mode: mode, User: "root", Group: group}
		if group == "docker" {
			f := h.Files[p]
			f.GID = 999
			h.Files[p] = f
		}
	}
	add("/lib/systemd/system/docker.service", "file", 0o644, "root")
	add("/lib/systemd/system/docker.socket", "file", 0o644, "root")
	add("/run/containerd/containerd.sock", "socket", 0o660, "root")
	add("/etc/docker", "dir", 0o755, "root")
	add("/etc/docker/daemon.json", "file", 0o644, "root")
	add("/etc/default/docker", "file", 0o644, "root")
	add("/var/run/docker.sock", "socket", 0o660, "docker")
	add("/var/lib/docker", "dir", 0o710, "root")
	for _, p := range []string{"/usr/bin/dockerd", "/run/containerd", "/var/lib/docker", "/etc/docker", "/lib/systemd/system/docker.service",
		"/run/containerd/containerd.sock", "/lib/systemd/system/docker.socket", "/etc/default/docker", "/etc/docker/daemon.json"} {
		h.Audit.Rules = append(h.Audit.Rules, "-w "+p+" -p rwxa -k docker")
	}
	h.Audit.Source = "auditctl"
	h.ContentTrust = "1"
	var c Container
	c.ID, c.Name, c.AppArmorProfile = "c1", "/web", "docker-default"
	c.Config.User = "1000"
	lim := int64(100)
	c.HostConfig.PidsLimit = &lim
	c.HostConfig.Memory = 1 << 26
	c.HostConfig.CPUShares = 512
	c.HostConfig.ReadonlyRootfs = true
	c.HostConfig.SecurityOpt = []string{"no-new-privileges"}
	c.HostConfig.Ulimits = []any{map[string]any{"Name": "nofile"}}
	c.State.Health = &checks.DockerHealth{Status: "healthy"}
	h.Containers = []Container{c}
	im := Image{ID: "sha256:1", RepoTags: []string{"web:1"}, History: []string{"CMD [\"/web\"]", "COPY web /web"}}
	im.Config.Healthcheck = &struct {
		Test []string `json:"Test"`
	}{[]string{"CMD", "/web", "-health"}}
	h.Images = []Image{im}
	return h
}

func TestChecks(t *testing.T) {
	cat, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ctr := func(f func(*Container)) func(*Host) { return func(h *Host) { f(&h.Containers[0]) } }
	for _, tc := range []struct {
		name   string
		change func(*Host)
		opt    Options
		want   map[string]Status
	}{
		{"a well-kept host passes the automated checks", func(*Host) {}, Options{}, map[string]Status{
			"1.1.1": Pass, "1.1.3": Pass, "1.1.4": Pass, "1.1.5": Pass, "1.1.7": Pass, "1.1.8": Pass, "1.1.13": Info,
			"2.2": Pass, "2.3": Pass, "2.7": Info, "2.8": Pass, "2.9": Pass, "2.12": Pass, "2.13": Pass, "2.14": Pass, "2.15": Pass, "2.16": Pass,
			"3.1": Pass, "3.2": Pass, "3.15": Pass, "3.16": Pass, "3.17": Pass, "3.23": Pass, "3.24": Pass,
			"4.1": Pass, "4.5": Pass, "4.6": Pass, "4.7": Pass, "4.9": Pass,
			"5.2": Pass, "5.3": Pass, "5.4": Pass, "5.11": Pass, "5.12": Pass, "5.13": Pass, "5.26": Pass, "5.27": Pass, "5.29": Pass,
		}},
		// Modes are judged by their bits: 0466 lets everyone write,
		// however small it looks as a decimal number.
		{"a world-writable daemon.json", func(h *Host) {
			f := h.Files["/etc/docker/daemon.json"]
			f.Mode = 0o466
			h.Files["/etc/docker/daemon.json"] = f
		}, Options{}, map[string]Status{"3.18": Warn, "3.17": Pass}},
		{"a setuid unit file", func(h *Host) {
			f := h.Files["/lib/systemd/system/docker.service"]
			f.Mode = 0o4644
			h.Files["/lib/systemd/system/docker.service"] = f
		}, Options{}, map[string]Status{"3.2": Warn}},
		{"a socket owned by another group", func(h *Host) {
			f := h.Files["/var/run/docker.sock"]
			f.Group = "staff"
			h.Files["/var/run/docker.sock"] = f
		}, Options{}, map[string]Status{"3.15": Warn, "3.16": Pass}},
		// A rule watching /etc/docker/daemon.json does not audit
		// /etc/docker; a commented rule audits nothing.
		{"audit rules are matched by path, not by substring", func(h *Host) {
			h.Audit = Audit{Source: "/etc/audit/audit.rules", Rules: []string{"-w /etc/docker/daemon.json -k docker", "# -w /usr/bin/dockerd -k docker", "-a exit,always -F path=/run/containerd -F perm=war -k docker"}}
		}, Options{}, map[string]Status{"1.1.6": Warn, "1.1.11": Pass, "1.1.3": Warn, "1.1.4": Pass}},
		{"missing files are INFO", func(h *Host) {
			delete(h.Files, "/etc/default/docker")
			delete(h.Files, "/var/lib/docker")
			h.Units["docker.service"] = ""
		}, Options{}, map[string]Status{"1.1.10": Info, "1.1.5": Info, "1.1.7": Info, "3.1": Info, "3.19": Info, "3.20": Info}},
		{"a TCP socket without TLS", func(h *Host) { h.DaemonArgs = []string{"dockerd", "-H", "tcp://0.0.0.0:2375"} }, Options{}, map[string]Status{"2.7": Warn}},
		{"a TCP socket with TLS but no verification", func(h *Host) { h.DaemonArgs = []string{"dockerd", "--host=tcp://0.0.0.0:2376", "--tls"} }, Options{}, map[string]Status{"2.7": Warn}},
		{"TLS verification from daemon.json", func(h *Host) {
			h.ConfigRaw = `{"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true}`
			h.Config["tlsverify"] = true
		}, Options{}, map[string]Status{"2.7": Pass}},
		{"a debug log level on the command line", func(h *Host) { h.DaemonArgs = []string{"dockerd", "--log-level", "debug"} }, Options{}, map[string]Status{"2.3": Warn}},
		{"a cgroup parent in daemon.json", func(h *Host) { h.Config["cgroup-parent"] = "/docker" }, Options{}, map[string]Status{"2.10": Warn}},
		{"insecure registries", func(h *Host) { h.Config["insecure-registries"] = []any{"10.0.0.1:5000"} }, Options{}, map[string]Status{"2.5": Warn}},
		{"an empty insecure registry list", func(h *Host) { h.Config["insecure-registries"] = []any{} }, Options{}, map[string]Status{"2.5": Pass}},
		{"iptables off", func(h *Host) { h.DaemonArgs = append(h.DaemonArgs, "--iptables=false") }, Options{}, map[string]Status{"2.4": Warn}},
		{"a daemon left at its defaults", func(h *Host) { h.Config, h.ConfigRaw, h.Info.LoggingDriver = nil, "", "json-file" }, Options{}, map[string]Status{
			"2.2": Warn, "2.8": Info, "2.9": Warn, "2.12": Warn, "2.13": Warn, "2.14": Warn, "2.16": Warn, "5.26": Pass,
		}},
		{"root in every spelling", ctr(func(c *Container) { c.Config.User = "0:0" }), Options{}, map[string]Status{"4.1": Warn}},
		{"a named user", ctr(func(c *Container) { c.Config.User = "app:app" }), Options{}, map[string]Status{"4.1": Pass}},
		{"an insecure container", ctr(func(c *Container) {
			c.AppArmorProfile = "unconfined"
			c.HostConfig.SecurityOpt = nil
			c.HostConfig.CapAdd = []string{"CAP_CHOWN", "net_admin"}
			c.HostConfig.Privileged = true
			c.Mounts = []Mount{{Type: "bind", Source: "/etc", Destination: "/host/etc", RW: true}, {Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", RW: true, Propagation: "rshared"}}
			c.Processes = []string{"/usr/sbin/sshd -D"}
			c.NetworkSettings.Ports = map[string][]checks.DockerPort{"80/tcp": {{HostIP: "0.0.0.0", HostPort: "80"}, {HostIP: "::", HostPort: "80"}}}
			c.HostConfig.NetworkMode, c.HostConfig.PidMode, c.HostConfig.IpcMode, c.HostConfig.UTSMode = "host", "host", "host", "host"
			c.HostConfig.UsernsMode = "host"
			c.HostConfig.Memory, c.HostConfig.CPUShares, c.HostConfig.ReadonlyRootfs = 0, 0, false
			c.HostConfig.RestartPolicy.MaximumRetryCount = 10
			c.HostConfig.Devices = []any{map[string]any{"PathOnHost": "/dev/kvm"}}
			c.HostConfig.Ulimits = nil
			c.HostConfig.CgroupParent = "/custom"
			c.HostConfig.PidsLimit = nil
			c.State.Health = nil
		}), Options{}, map[string]Status{
			"5.2": Warn, "5.3": Warn, "5.4": Warn, "5.5": Warn, "5.6": Warn, "5.7": Warn, "5.8": Warn, "5.9": Warn, "5.10": Warn,
			"5.11": Warn, "5.12": Warn, "5.13": Warn, "5.14": Warn, "5.15": Warn, "5.16": Warn, "5.17": Warn, "5.18": Info, "5.19": Info,
			"5.20": Warn, "5.21": Warn, "5.25": Warn, "5.27": Warn, "5.29": Warn, "5.31": Warn, "5.32": Warn,
		}},
		{"a read-only /etc beside a writable volume", ctr(func(c *Container) {
			c.Mounts = []Mount{{Type: "bind", Source: "/etc", Destination: "/host/etc"}, {Type: "volume", Name: "data", Source: "/var/lib/docker/volumes/data/_data", Destination: "/data", RW: true}}
		}), Options{}, map[string]Status{"5.6": Pass}},
		{"the default capabilities are not extra", ctr(func(c *Container) { c.HostConfig.CapAdd = []string{"CHOWN", "cap_net_bind_service"} }), Options{}, map[string]Status{"5.4": Pass}},
		{"seccomp off", ctr(func(c *Container) { c.HostConfig.SecurityOpt = []string{"seccomp=unconfined"} }), Options{}, map[string]Status{"5.22": Warn, "5.26": Pass}},
		{"no containers: section 5 but 5.1 is skipped", func(h *Host) { h.Containers = nil }, Options{}, map[string]Status{"4.1": Info, "5.1": Pass, "5.2": "", "5.32": ""}},
		{"include leaves the others out", func(h *Host) {}, Options{Include: []string{"^db$"}}, map[string]Status{"4.1": Info, "5.2": "", "4.6": Pass}},
		{"an image without a health check, with ADD and update", func(h *Host) {
			h.Images[0].Config.Healthcheck = nil
			h.Images[0].History = []string{"RUN apt-get update", "ADD app.tgz /app", "ADD file:abc in /"}
		}, Options{}, map[string]Status{"4.6": Warn, "4.7": Info, "4.9": Info}},
		{"only the base layer is ADDed", func(h *Host) { h.Images[0].History = []string{"CMD [\"sh\"]", "ADD file:abc in /"} }, Options{}, map[string]Status{"4.9": Pass}},
		{"doubtful users", func(h *Host) { h.DockerGroup = []string{"alice", "mallory"} }, Options{TrustedUsers: []string{"alice"}}, map[string]Status{"1.1.2": Warn}},
		{"trusted users", func(h *Host) { h.DockerGroup = []string{"alice"} }, Options{TrustedUsers: []string{"alice"}}, map[string]Status{"1.1.2": Pass}},
		{"an old engine", func(h *Host) { h.Version.Version = "18.09.1"; h.Version.Experimental = true }, Options{}, map[string]Status{"1.2.2": Pass, "2.18": Warn}},
		{"content trust off", func(h *Host) { h.ContentTrust = "" }, Options{}, map[string]Status{"4.5": Warn}},
		{"no separate partition", func(h *Host) { h.RootIsMount = false }, Options{}, map[string]Status{"1.1.1": Warn}},
		{"a swarm node", func(h *Host) {
			h.Info.Swarm.LocalNodeState = "active"
			h.Info.LiveRestoreEnabled = false
			delete(h.Config, "live-restore")
			h.Swarm = &Swarm{Leaders: 1, ManagerPortWildcard: true}
			h.Networks = []Network{{Name: "ov", Driver: "overlay", Scope: "swarm", Options: map[string]string{}}}
		}, Options{}, map[string]Status{"5.1": Warn, "2.15": Pass, "7.1": Pass, "7.2": Warn, "7.3": Warn, "7.4": Info, "7.5": Warn, "7.6": Note}},
		{"the community checks", ctr(func(c *Container) { c.HostConfig.CapAdd = []string{"SYS_ADMIN"} }), Options{Checks: []string{"community"}}, map[string]Status{
			"C.5.3.3": Warn, "C.5.3.1": Pass, "C.2": Info, "5.4": "",
		}},
		{"docker-bench names select checks", func(*Host) {}, Options{Checks: []string{"check_2_2", "docker_daemon_files"}, Exclude: []string{"3.1"}}, map[string]Status{
			"2.2": Pass, "2.3": "", "3.2": Pass, "3.1": "", "1.1.1": "",
		}},
		{"section 8 is skipped on a Community Engine", func(h *Host) { h.Version.Platform.Name = "Docker Engine - Community" }, Options{Checks: []string{"8"}}, map[string]Status{"8.1.1": ""}},
		{"section 8 elsewhere is manual", func(*Host) {}, Options{Checks: []string{"8"}}, map[string]Status{"8.1.1": Note, "8.2.1": Note}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := baseHost()
			tc.change(h)
			tc.opt.Now = now
			rep, err := Run(cat, h, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Status{}
			for _, r := range rep.Results {
				if !r.Heading {
					got[r.ID] = r.Status
				}
			}
			for id, want := range tc.want {
				if got[id] != want {
					t.Errorf("%s = %q, want %q", id, got[id], want)
				}
			}
		})
	}
}

// TestEveryCheckRuns: every entry of the catalogue is a heading or a
// registered check, and each check gives a verdict on an empty host.
func TestEveryCheckRuns(t *testing.T) {
	cat, _ := LoadCatalog()
	seen := map[string]bool{}
	for _, e := range cat.Entries {
		seen[e.ID] = true
		switch Kind(e.ID) {
		case "manual":
			if ManualReason(e.ID) == "" {
				t.Errorf("%s is manual without a reason", e.ID)
			}
		case "section":
			if strings.Count(e.ID, ".") > 1 {
				t.Errorf("%s is a heading", e.ID)
			}
		}
	}
	for id := range registry {
		if !seen[id] {
			t.Errorf("check %s is not in the catalogue", id)
		}
	}
	rep, err := Run(cat, &Host{}, Options{Checks: []string{"all"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Status == "" {
			t.Errorf("%s has no verdict", r.ID)
		}
	}
	if rep.Checks == 0 {
		t.Fatal("nothing ran")
	}
}

func TestSelectionErrors(t *testing.T) {
	cat, _ := LoadCatalog()
	for _, o := range []Options{{Checks: []string{"9.9"}}, {Exclude: []string{"check_nope"}}, {Include: []string{"("}}} {
		if _, err := Run(cat, baseHost(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	_, err := Run(cat, baseHost(), Options{Checks: []string{"5.99"}})
	if err == nil || !strings.Contains(err.Error(), `"5.99"`) || !strings.Contains(err.Error(), "--list") {
		t.Errorf("err = %v, want one naming the check and --list", err)
	}
}

// TestGolden: the text log and the JSON log of a fixed snapshot, byte for
// byte (the same inputs give the same report).
func TestGolden(t *testing.T) {
	cat, _ := LoadCatalog()
	h := baseHost()
	h.Containers[0].Config.User = ""
	h.Images[0].Config.Healthcheck = nil
	snap, _ := json.MarshalIndent(h, "", "  ")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile("testdata/host.json", snap, 0o644)
	}
	// The CLI's tests judge this snapshot (--state): keep it current.
	if saved, err := os.ReadFile("testdata/host.json"); err != nil || !bytes.Equal(saved, snap) {
		t.Errorf("testdata/host.json is not the current snapshot (%v); go test -run TestGolden -update", err)
	}
	back, err := ParseHost("snapshot", bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(h, back); d != "" {
		t.Fatalf("a saved snapshot reads back differently:\n%s", d)
	}
	rep, err := Run(cat, back, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return WriteText(b, rep, TextOptions{Remediation: true}) }},
		{"report.json", func(b *bytes.Buffer) error { return WriteJSON(b, rep, true) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", f.name)
		if *update {
			os.MkdirAll("testdata", 0o755)
			os.WriteFile(golden, b.Bytes(), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), b.String()); d != "" {
			t.Errorf("%s differs (-golden +got); go test -run TestGolden -update:\n%s", f.name, d)
		}
	}
}

func TestParseHostErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", "{", "not a docker bench snapshot"},
		{"unknown key", `{"info":{"DockerRootDir":"/x"},"bogus":1}`, "unknown field"},
		{"empty", `{}`, "no engine info"},
		{"trailing", `{"version":{"Version":"1"}} {}`, "trailing data"},
		{"wrong type", `{"containers":"x"}`, "not a docker bench snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHost("state.json", strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "state.json") {
				t.Fatalf("err = %v, want %q naming the file", err, tc.want)
			}
		})
	}
}

// FuzzRun: any snapshot that parses is judged without a panic, and the
// report writes.
func FuzzRun(f *testing.F) {
	b, _ := json.Marshal(baseHost())
	f.Add(b)
	f.Add([]byte(`{"version":{"Version":"x.y"},"daemonArgs":["-H"],"config":{"icc":null,"storage-opts":{"a":1}}}`))
	cat, _ := LoadCatalog()
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHost("fuzz", bytes.NewReader(in))
		if err != nil {
			return
		}
		rep, err := Run(cat, h, Options{Checks: []string{"all"}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := WriteText(&out, rep, TextOptions{Remediation: true}); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&out, rep, true); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDocsTable: the table of checks in docs/cis-docker.md is the one the
// code describes.
func TestDocsTable(t *testing.T) {
	const doc = "../../docs/cis-docker.md"
	const begin, end = "<!-- checks:begin (go test ./internal/dockerbench -run TestDocsTable -update) -->\n", "<!-- checks:end -->"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no checks markers", doc)
	}
	cat, _ := LoadCatalog()
	var table bytes.Buffer
	if err := WriteChecksTable(&table, cat); err != nil {
		t.Fatal(err)
	}
	fresh := s[:i+len(begin)] + table.String() + s[j:]
	if *update {
		os.WriteFile(doc, []byte(fresh), 0o644)
		return
	}
	if fresh != s {
		t.Error("docs/cis-docker.md's table of checks is stale: go test ./internal/dockerbench -run TestDocsTable -update")
	}
}
