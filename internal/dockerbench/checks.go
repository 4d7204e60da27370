package dockerbench

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// check is one automated (or manual) check. Entries of the catalogue
// without one are headings.
type check struct {
	id string
	// containers: skipped, unprinted, when no container runs (section 5,
	// as docker-bench-security does).
	containers bool
	// enterprise: skipped on a Community Engine (section 8).
	enterprise bool
	run        func(*run, *Result)
}

// run is one benchmark run over a host snapshot.
type run struct {
	h          *Host
	opt        Options
	args       []string // dockerd's normalized arguments
	containers []*Container
	images     []*Image
}

// registry is every check, by ID. Section order comes from the catalogue.
var registry = map[string]check{}

func register(cs ...check) {
	for _, c := range cs {
		if _, dup := registry[c.id]; dup {
			panic("dockerbench: check " + c.id + " registered twice")
		}
		registry[c.id] = c
	}
}

// --- dockerd's command line and daemon.json, read as docker-bench does.

// normalizeArgs shortens --debug, --host, --log-level and --version and
// joins "-H value" into "-H=value", so one prefix finds every spelling.
func normalizeArgs(argv []string) []string {
	var out []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		for long, short := range map[string]string{"--debug": "-D", "--host": "-H", "--log-level": "-l", "--version": "-v"} {
			if a == long || strings.HasPrefix(a, long+"=") {
				a = short + a[len(long):]
			}
		}
		if (a == "-D" || a == "-H" || a == "-l" || a == "-v") && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			a += "=" + argv[i+1]
			i++
		}
		out = append(out, strings.NewReplacer(`"`, "", `'`, "").Replace(a))
	}
	return out
}

// argsWith is every daemon argument starting with prefix.
func (r *run) argsWith(prefix string) []string {
	var out []string
	for _, a := range r.args {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

// arg is the last (effective) daemon argument starting with prefix.
func (r *run) arg(prefix string) string {
	if a := r.argsWith(prefix); len(a) > 0 {
		return a[len(a)-1]
	}
	return ""
}

// argValue is the value of the effective --name=value argument.
func (r *run) argValue(name string) string {
	a := r.arg(name + "=")
	_, v, _ := strings.Cut(a, "=")
	return v
}

// cfg renders a daemon.json key as `jq --raw-output` does: strings bare,
// other values as indented JSON, an absent key as "".
func (r *run) cfg(key string) string {
	v, ok := r.h.Config[key]
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// cfgSet reports whether a daemon.json key holds something: not absent,
// null, false, "", [] or {}.
func (r *run) cfgSet(key string) bool {
	switch r.cfg(key) {
	case "", "null", "false", "[]", "{}":
		return false
	}
	return true
}

func (r *run) cfgTrue(key string) bool  { return r.cfg(key) == "true" }
func (r *run) cfgFalse(key string) bool { return r.cfg(key) == "false" }

func (r *run) swarmActive() bool { return r.h.Info.Swarm.LocalNodeState == "active" }

// --- files

func (r *run) file(path string) (File, bool) {
	f, ok := r.h.Files[path]
	return f, ok && path != ""
}

// within reports whether a mode grants nothing beyond max ("644 or more
// restrictive"), special bits included.
func within(mode, max uint32) bool { return mode&07777&^max == 0 }

// fileCheck is a section 3 check: the file (of kind "file", "dir" or
// "socket") passes ok, or is WARNed as wrong, or is not there (INFO).
func fileCheck(path func(*run) string, kind string, ok func(File) bool, wrong, notFound string) func(*run, *Result) {
	return func(r *run, res *Result) {
		p := path(r)
		f, found := r.file(p)
		if !found || f.Type != kind {
			res.line(Info, "* "+notFound)
			res.set(Info, false, notFound)
			return
		}
		if ok(f) {
			res.set(Pass, true, "")
			return
		}
		msg := wrong + " " + p
		res.line(Warn, "* "+msg)
		res.set(Warn, true, msg)
	}
}

func at(p string) func(*run) string { return func(*run) string { return p } }
func unit(name string) func(*run) string {
	return func(r *run) string { return r.h.Units[name] }
}

func rootRoot(f File) bool   { return f.UID == 0 && f.GID == 0 }
func rootUID(f File) bool    { return f.UID == 0 }
func namedRoot(f File) bool  { return f.User == "root" && f.Group == "root" }
func rootDocker(f File) bool { return f.User == "root" && f.Group == "docker" }
func mode(max uint32) func(File) bool {
	return func(f File) bool { return within(f.Mode, max) }
}

// tlsFile is where the daemon's TLS file of the given flag is: the
// daemon.json key wins over the command line, as docker-bench reads it.
func tlsFile(key string) func(*run) string {
	return func(r *run) string {
		if v := r.cfg(key); v != "" {
			return v
		}
		return r.argValue("--" + key)
	}
}

// --- audit rules

// auditWatches reports whether one audit rule watches path: -w PATH, or
// -F path=PATH / -F dir=PATH, in a line that is not a comment.
func auditWatches(rule, path string) bool {
	rule = strings.TrimSpace(rule)
	if rule == "" || rule[0] == '#' || rule[0] == ';' {
		return false
	}
	f := strings.Fields(rule)
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "-w":
			if strings.TrimRight(f[i+1], "/") == strings.TrimRight(path, "/") {
				return true
			}
		case "-F":
			for _, k := range []string{"path=", "dir="} {
				if v, ok := strings.CutPrefix(f[i+1], k); ok && strings.TrimRight(v, "/") == strings.TrimRight(path, "/") {
					return true
				}
			}
		}
	}
	return false
}

// auditCheck is a 1.1 check: the path is audited. kind "" checks the
// path whether or not it exists; otherwise a missing path is INFO.
func auditCheck(path func(*run) string, kind string) func(*run, *Result) {
	return func(r *run, res *Result) {
		p := path(r)
		if kind != "" {
			f, ok := r.file(p)
			if !ok || (kind != "any" && f.Type != kind) {
				msg := "File not found"
				if kind == "dir" {
					msg = "Directory not found"
				}
				res.line(Info, "* "+msg)
				res.set(Info, false, msg)
				return
			}
		}
		for _, rule := range r.h.Audit.Rules {
			if auditWatches(rule, p) {
				res.set(Pass, true, "")
				return
			}
		}
		res.set(Warn, true, "")
	}
}

// --- containers and images

func isRootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "" || name == "0" || name == "root"
}

// eachContainer is a listing check over the running containers.
func eachContainer(bad Status, key, msg string, f func(*Container) bool) func(*run, *Result) {
	return func(r *run, res *Result) {
		var items []string
		for _, c := range r.containers {
			if f(c) {
				items = append(items, c.name())
				res.line(bad, "* "+msg+": "+c.name())
			}
		}
		res.list(bad, bad == Warn, key, items)
	}
}

// defaultCaps are the capabilities a container has without --cap-add.
var defaultCaps = map[string]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true, "NET_RAW": true, "SETFCAP": true,
	"SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

func capName(c string) string { return strings.TrimPrefix(strings.ToUpper(c), "CAP_") }

// extraCaps are the added capabilities beyond the default set.
func extraCaps(c *Container) []string {
	var out []string
	for _, cp := range c.HostConfig.CapAdd {
		if !defaultCaps[capName(cp)] {
			out = append(out, capName(cp))
		}
	}
	return out
}

func hasCap(c *Container, name string) bool {
	for _, cp := range c.HostConfig.CapAdd {
		if n := capName(cp); n == name || n == "ALL" {
			return true
		}
	}
	return false
}

func hasOpt(c *Container, sub ...string) bool {
	for _, o := range c.HostConfig.SecurityOpt {
		for _, s := range sub {
			if strings.Contains(o, s) {
				return true
			}
		}
	}
	return false
}

// hostPort is one published port as docker port prints it.
type hostPort struct{ ip, port string }

// ports are a container's IPv4 published ports, sorted: docker-bench
// reads `docker port`, whose IPv6 lines its parsing skips.
func ports(c *Container) []hostPort {
	keys := make([]string, 0, len(c.NetworkSettings.Ports))
	for k := range c.NetworkSettings.Ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []hostPort
	for _, k := range keys {
		for _, b := range c.NetworkSettings.Ports[k] {
			if b.HostPort == "" || strings.Contains(b.HostIP, ":") {
				continue
			}
			ip := b.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, hostPort{ip, b.HostPort})
		}
	}
	return out
}

// portCheck lists the published ports failing f.
func portCheck(key string, f func(hostPort) (string, bool)) func(*run, *Result) {
	return func(r *run, res *Result) {
		var items []string
		for _, c := range r.containers {
			for _, p := range ports(c) {
				if msg, bad := f(p); bad {
					res.line(Warn, "* "+msg+" in "+c.name())
					v := p.port
					if strings.HasPrefix(msg, "Port being bound") {
						v = p.ip
					}
					items = append(items, c.name()+":"+v)
				}
			}
		}
		res.list(Warn, true, key, items)
	}
}

var sensitiveDirs = []string{"/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"}

func imageName(im *Image) string {
	if len(im.RepoTags) == 0 {
		return im.ID
	}
	return "[" + strings.Join(im.RepoTags, " ") + "]"
}

// eachImage is a listing check over the images.
func eachImage(bad Status, key, msg string, f func(*Image) bool) func(*run, *Result) {
	return func(r *run, res *Result) {
		var items []string
		for _, im := range r.images {
			if f(im) {
				items = append(items, imageName(im))
				res.line(bad, "* "+msg+": "+imageName(im))
			}
		}
		res.list(bad, bad == Warn, key, items)
	}
}

// --- versions

var nonVersion = regexp.MustCompile(`[A-Za-z,-]`)

// compareVersions compares dotted versions numerically, field by field;
// a field that is not a number ends the comparison as "older", as the
// shell comparison docker-bench uses does.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		x, y := "0", "0"
		if i < len(as) && as[i] != "" {
			x = as[i]
		}
		if i < len(bs) && bs[i] != "" {
			y = bs[i]
		}
		xi, err1 := strconv.Atoi(x)
		yi, err2 := strconv.Atoi(y)
		if err1 != nil || err2 != nil {
			return -1
		}
		if xi != yi {
			return map[bool]int{true: 1, false: -1}[xi > yi]
		}
	}
	return 0
}

func (r *run) engineVersion() string { return nonVersion.ReplaceAllString(r.h.Version.Version, "") }

// versionDigits is docker-bench's four-digit form of the engine version:
// 20.10.24 is 2010.
func (r *run) versionDigits() int {
	s := strings.ReplaceAll(r.engineVersion(), ".", "")
	if len(s) > 4 {
		s = s[:4]
	}
	n, _ := strconv.Atoi(strings.TrimRight(s, "+~"))
	return n
}

func (r *run) community() bool {
	return strings.HasSuffix(r.h.Version.Platform.Name, "Community") || strings.HasSuffix(r.h.Version.Version, "-ce")
}

func init() {
	const (
		notFound = "File not found"
		dirGone  = "Directory not found"
	)
	register(
		check{id: "1.1.1", run: func(r *run, res *Result) {
			if r.h.RootIsMount {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "1.1.2", run: func(r *run, res *Result) {
			if len(r.opt.TrustedUsers) == 0 {
				res.line(Info, "* Users: "+strings.Join(r.h.DockerGroup, ","))
				res.Status, res.Items = Info, append([]string{}, r.h.DockerGroup...)
				res.Details = "doubtfulusers: " + strings.Join(r.h.DockerGroup, ",")
				return
			}
			var doubtful []string
			for _, u := range r.h.DockerGroup {
				if !slices.Contains(r.opt.TrustedUsers, u) {
					doubtful = append(doubtful, u)
				}
			}
			if len(doubtful) > 0 {
				res.line(Warn, "* Doubtful users: "+strings.Join(doubtful, ","))
			}
			res.list(Warn, true, "doubtfulusers", doubtful)
		}},
		check{id: "1.1.3", run: auditCheck(at("/usr/bin/dockerd"), "")},
		check{id: "1.1.4", run: auditCheck(at("/run/containerd"), "")},
		check{id: "1.1.5", run: auditCheck(at("/var/lib/docker"), "dir")},
		check{id: "1.1.6", run: auditCheck(at("/etc/docker"), "dir")},
		check{id: "1.1.7", run: auditCheck(unit("docker.service"), "file")},
		check{id: "1.1.8", run: auditCheck(unit("containerd.sock"), "any")},
		check{id: "1.1.9", run: auditCheck(unit("docker.socket"), "any")},
		check{id: "1.1.10", run: auditCheck(at("/etc/default/docker"), "file")},
		check{id: "1.1.11", run: auditCheck(at("/etc/docker/daemon.json"), "file")},
		check{id: "1.1.12", run: auditCheck(at("/etc/containerd/config.toml"), "file")},
		check{id: "1.1.13", run: auditCheck(at("/etc/sysconfig/docker"), "file")},
		check{id: "1.1.14", run: auditCheck(at("/usr/bin/containerd"), "file")},
		check{id: "1.1.15", run: auditCheck(at("/usr/bin/containerd-shim"), "file")},
		check{id: "1.1.16", run: auditCheck(at("/usr/bin/containerd-shim-runc-v1"), "file")},
		check{id: "1.1.17", run: auditCheck(at("/usr/bin/containerd-shim-runc-v2"), "file")},
		check{id: "1.1.18", run: auditCheck(at("/usr/bin/runc"), "file")},
		check{id: "1.2.1", run: func(r *run, res *Result) {
			res.manual(Note, "Host hardening is judged against the host OS's own benchmark (CIS for Debian, RHEL, …), not from the engine.")
		}},
		check{id: "1.2.2", run: func(r *run, res *Result) {
			v := r.engineVersion()
			// "Current" is last month's release number (yy.mm.0).
			current := r.opt.Now.AddDate(0, 0, -30).Format("06.01.0")
			if compareVersions(current, v) > 0 {
				res.line(Info, "* Using "+v+", verify is it up to date as deemed necessary")
			} else {
				res.line(Info, "* Using "+v+" which is current")
				res.line(Info, "* Check with your operating system vendor for support and security maintenance for Docker")
			}
			res.set(Pass, false, "Using "+v)
			res.Manual = "Whether this version still gets security fixes depends on who ships it (Docker, or the OS vendor's backports)."
		}},
		check{id: "2.1", run: func(r *run, res *Result) {
			res.manual(Note, "Rootless mode is an installation choice; whether the workloads allow it needs a person.")
		}},
		check{id: "2.2", run: func(r *run, res *Result) {
			if strings.Contains(r.arg("--icc"), "false") || r.cfgFalse("icc") {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "2.3", run: func(r *run, res *Result) {
			level := r.cfg("log-level")
			if a := r.arg("-l="); a != "" && level == "" {
				level = strings.TrimPrefix(a, "-l=")
			}
			if level == "" || level == "info" {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "2.4", run: func(r *run, res *Result) {
			if strings.Contains(r.arg("--iptables"), "false") || r.cfgFalse("iptables") {
				res.set(Warn, true, "")
				return
			}
			res.set(Pass, true, "")
		}},
		check{id: "2.5", run: func(r *run, res *Result) {
			if r.arg("--insecure-registry") != "" || r.cfgSet("insecure-registries") {
				res.set(Warn, true, "")
				return
			}
			res.set(Pass, true, "")
		}},
		check{id: "2.6", run: func(r *run, res *Result) {
			if r.h.Info.Driver == "aufs" {
				res.set(Warn, true, "")
				return
			}
			res.set(Pass, true, "")
		}},
		check{id: "2.7", run: func(r *run, res *Result) {
			tcp := regexp.MustCompile(`host.*tcp://`).MatchString(r.h.ConfigRaw)
			for _, h := range r.argsWith("-H") {
				if !strings.Contains(h, "unix://") && !strings.Contains(h, "fd://") {
					tcp = true
				}
			}
			if !tcp {
				res.line(Info, "* Docker daemon not listening on TCP")
				res.set(Info, false, "Docker daemon not listening on TCP")
				return
			}
			switch {
			case r.cfgTrue("tlsverify") || r.arg("--tlsverify") != "":
				res.set(Pass, true, "")
			case r.cfgTrue("tls") || slices.Contains(r.args, "--tls") || slices.Contains(r.args, "--tls=true"):
				msg := "Docker daemon currently listening on TCP with TLS, but no verification"
				res.line(Warn, "* "+msg)
				res.set(Warn, true, msg)
			default:
				msg := "Docker daemon currently listening on TCP without TLS"
				res.line(Warn, "* "+msg)
				res.set(Warn, true, msg)
			}
		}},
		check{id: "2.8", run: func(r *run, res *Result) {
			if r.cfgSet("default-ulimits") || r.arg("--default-ulimit") != "" {
				res.set(Pass, false, "")
				return
			}
			res.line(Info, "* Default ulimit doesn't appear to be set")
			res.set(Info, false, "Default ulimit doesn't appear to be set")
		}},
		check{id: "2.9", run: func(r *run, res *Result) {
			if r.cfgSet("userns-remap") || r.arg("--userns-remap") != "" {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "2.10", run: func(r *run, res *Result) {
			if r.cfgSet("cgroup-parent") || r.arg("--cgroup-parent") != "" {
				res.line(Info, "* Confirm cgroup usage")
				res.set(Warn, true, "Confirm cgroup usage")
				return
			}
			res.set(Pass, true, "")
		}},
		check{id: "2.11", run: func(r *run, res *Result) {
			if strings.Contains(r.cfg("storage-opts"), "dm.basesize") || strings.Contains(strings.Join(r.argsWith("--storage-opt"), " "), "dm.basesize") {
				res.set(Warn, true, "")
				return
			}
			res.set(Pass, true, "")
		}},
		check{id: "2.12", run: func(r *run, res *Result) {
			if r.cfgSet("authorization-plugins") || r.arg("--authorization-plugin") != "" {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "2.13", run: func(r *run, res *Result) {
			if r.h.Info.LoggingDriver == "json-file" {
				res.set(Warn, true, "")
				return
			}
			res.set(Pass, true, "")
		}},
		check{id: "2.14", run: func(r *run, res *Result) {
			if r.arg("--no-new-privileges") != "" || r.cfgTrue("no-new-privileges") {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "2.15", run: func(r *run, res *Result) {
			switch {
			case r.h.Info.LiveRestoreEnabled, r.arg("--live-restore") != "":
				res.set(Pass, true, "")
			case r.swarmActive():
				res.Suffix = "(Incompatible with swarm mode)"
				res.set(Pass, true, "")
			default:
				res.set(Warn, true, "")
			}
		}},
		check{id: "2.16", run: func(r *run, res *Result) {
			if r.cfgFalse("userland-proxy") || slices.Contains(r.args, "--userland-proxy=false") {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "2.17", run: func(r *run, res *Result) {
			if slices.Contains(r.h.Info.SecurityOptions, "name=seccomp,profile=default") {
				res.set(Pass, false, "")
				return
			}
			res.manual(Info, "A custom daemon-wide seccomp profile is in use; whether it is appropriate needs a person.")
		}},
		check{id: "2.18", run: func(r *run, res *Result) {
			if r.versionDigits() <= 1903 {
				if !r.h.Version.Experimental {
					res.set(Pass, true, "")
					return
				}
				res.set(Warn, true, "")
				return
			}
			res.NoID, res.Suffix = true, "(Deprecated)"
			res.manual(Info, "Experimental features are part of every engine since 19.03; the check is deprecated.")
		}},
		check{id: "3.1", run: fileCheck(unit("docker.service"), "file", rootRoot, "Wrong ownership for", notFound)},
		check{id: "3.2", run: fileCheck(unit("docker.service"), "file", mode(0o644), "Wrong permissions for", notFound)},
		check{id: "3.3", run: fileCheck(unit("docker.socket"), "file", rootRoot, "Wrong ownership for", notFound)},
		check{id: "3.4", run: fileCheck(unit("docker.socket"), "file", mode(0o644), "Wrong permissions for", notFound)},
		check{id: "3.5", run: fileCheck(at("/etc/docker"), "dir", rootRoot, "Wrong ownership for", dirGone)},
		check{id: "3.6", run: fileCheck(at("/etc/docker"), "dir", mode(0o755), "Wrong permissions for", dirGone)},
		check{id: "3.7", run: certsCheck(rootUID, "Wrong ownership for")},
		check{id: "3.8", run: certsCheck(mode(0o444), "Wrong permissions for")},
		check{id: "3.9", run: fileCheck(tlsFile("tlscacert"), "file", rootRoot, "Wrong ownership for", "No TLS CA certificate found")},
		check{id: "3.10", run: fileCheck(tlsFile("tlscacert"), "file", mode(0o444), "Wrong permissions for", "No TLS CA certificate found")},
		check{id: "3.11", run: fileCheck(tlsFile("tlscert"), "file", rootRoot, "Wrong ownership for", "No TLS Server certificate found")},
		check{id: "3.12", run: fileCheck(tlsFile("tlscert"), "file", mode(0o444), "Wrong permissions for", "No TLS Server certificate found")},
		check{id: "3.13", run: fileCheck(tlsFile("tlskey"), "file", rootRoot, "Wrong ownership for", "No TLS Key found")},
		check{id: "3.14", run: fileCheck(tlsFile("tlskey"), "file", func(f File) bool { return f.Mode&07777 == 0o400 }, "Wrong permissions for", "No TLS Key found")},
		check{id: "3.15", run: fileCheck(at("/var/run/docker.sock"), "socket", rootDocker, "Wrong ownership for", notFound)},
		check{id: "3.16", run: fileCheck(at("/var/run/docker.sock"), "socket", mode(0o660), "Wrong permissions for", notFound)},
		check{id: "3.17", run: fileCheck(at("/etc/docker/daemon.json"), "file", namedRoot, "Wrong ownership for", notFound)},
		check{id: "3.18", run: fileCheck(at("/etc/docker/daemon.json"), "file", mode(0o644), "Wrong permissions for", notFound)},
		check{id: "3.19", run: fileCheck(at("/etc/default/docker"), "file", namedRoot, "Wrong ownership for", notFound)},
		check{id: "3.20", run: fileCheck(at("/etc/default/docker"), "file", mode(0o644), "Wrong permissions for", notFound)},
		check{id: "3.21", run: fileCheck(at("/etc/sysconfig/docker"), "file", mode(0o644), "Wrong permissions for", notFound)},
		check{id: "3.22", run: fileCheck(at("/etc/sysconfig/docker"), "file", namedRoot, "Wrong ownership for", notFound)},
		check{id: "3.23", run: fileCheck(at("/run/containerd/containerd.sock"), "socket", namedRoot, "Wrong ownership for", notFound)},
		check{id: "3.24", run: fileCheck(at("/run/containerd/containerd.sock"), "socket", mode(0o660), "Wrong permissions for", notFound)},
		check{id: "4.1", run: func(r *run, res *Result) {
			if len(r.containers) == 0 {
				res.line(Info, "* No containers running")
				res.set(Info, false, "No containers running")
				return
			}
			eachContainer(Warn, "running as root", "Running as root", func(c *Container) bool { return isRootUser(c.Config.User) })(r, res)
		}},
		check{id: "4.2", run: manual("Which base images are trusted is the organisation's decision; `bulwark verify --policy` enforces it by signature.")},
		check{id: "4.3", run: manual("Needs the image's purpose; `bulwark sbom` lists every package to review.")},
		check{id: "4.4", run: manual("Needs scan results, which the engine does not keep; `bulwark scan` and `bulwark report sla` track them.")},
		check{id: "4.5", run: func(r *run, res *Result) {
			if r.h.ContentTrust == "1" {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "4.6", run: eachImage(Warn, "Images w/o HEALTHCHECK", "No Healthcheck found", func(im *Image) bool { return im.Config.Healthcheck == nil })},
		check{id: "4.7", run: eachImage(Info, "Update instructions found", "Update instruction found", func(im *Image) bool {
			return slices.ContainsFunc(im.History, func(s string) bool { return strings.Contains(s, "update") })
		})},
		check{id: "4.8", run: manual("Needs the image's files; `bulwark check image` reads its layers.")},
		check{id: "4.9", run: eachImage(Info, "Images using ADD", "ADD in image history", func(im *Image) bool {
			// The oldest layer (the base's root filesystem) is always ADDed.
			h := im.History
			if len(h) > 0 {
				h = h[:len(h)-1]
			}
			return slices.ContainsFunc(h, func(s string) bool { return strings.Contains(s, "ADD") })
		})},
		check{id: "4.10", run: manual("Needs the Dockerfile or the layers; `bulwark scan` finds secrets in image layers and `bulwark check` reads Dockerfiles.")},
		check{id: "4.11", run: manual("Package provenance is decided when the image is built; `bulwark sbom` lists what was installed.")},
		check{id: "4.12", run: manual("Needs the signatures, which the engine does not keep; `bulwark verify` checks them.")},
		check{id: "5.1", run: func(r *run, res *Result) {
			if r.h.Info.Swarm.LocalNodeState == "inactive" || r.h.Info.Swarm.LocalNodeState == "" {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}},
		check{id: "5.2", containers: true, run: eachContainer(Warn, "Containers with no AppArmorProfile", "No AppArmorProfile Found", func(c *Container) bool {
			return c.AppArmorProfile == "" || c.AppArmorProfile == "unconfined"
		})},
		check{id: "5.3", containers: true, run: eachContainer(Warn, "Containers with no SecurityOptions", "No SecurityOptions Found", func(c *Container) bool {
			return len(c.HostConfig.SecurityOpt) == 0
		})},
		check{id: "5.4", containers: true, run: func(r *run, res *Result) {
			var items []string
			for _, c := range r.containers {
				if x := extraCaps(c); len(x) > 0 {
					items = append(items, c.name())
					res.line(Warn, fmt.Sprintf("* Capabilities added: CapAdd=[%s] to %s", strings.Join(x, " "), c.name()))
				}
			}
			res.list(Warn, true, "Capabilities added for containers", items)
		}},
		check{id: "5.5", containers: true, run: eachContainer(Warn, "Containers running in privileged mode", "Container running in Privileged mode", func(c *Container) bool {
			return c.HostConfig.Privileged
		})},
		check{id: "5.6", containers: true, run: func(r *run, res *Result) {
			var items []string
			for _, c := range r.containers {
				for _, d := range sensitiveDirs {
					if slices.ContainsFunc(c.Mounts, func(m Mount) bool {
						return m.RW && (m.Source == d || m.Destination == d)
					}) {
						items = append(items, c.name()+":"+d)
						res.line(Warn, "* Sensitive directory "+d+" mounted in: "+c.name())
					}
				}
			}
			res.list(Warn, true, "Containers with sensitive directories mounted", items)
		}},
		check{id: "5.7", containers: true, run: eachContainer(Warn, "Containers with sshd/docker exec failures", "Container running sshd", func(c *Container) bool {
			return slices.ContainsFunc(c.Processes, func(p string) bool { return strings.Contains(p, "sshd") })
		})},
		check{id: "5.8", containers: true, run: portCheck("Containers using privileged ports", func(p hostPort) (string, bool) {
			n, err := strconv.Atoi(p.port)
			return "Privileged Port in use: " + p.port, err == nil && n < 1025
		})},
		check{id: "5.9", containers: true, run: portCheck("Containers with open ports", func(p hostPort) (string, bool) {
			return "Port in use: " + p.port, true
		})},
		check{id: "5.10", containers: true, run: eachContainer(Warn, "Containers running with networking mode 'host'", "Container running with networking mode 'host'", func(c *Container) bool {
			return c.HostConfig.NetworkMode == "host"
		})},
		check{id: "5.11", containers: true, run: eachContainer(Warn, "Container running without memory restrictions", "Container running without memory restrictions", func(c *Container) bool {
			return c.HostConfig.Memory == 0
		})},
		check{id: "5.12", containers: true, run: eachContainer(Warn, "Containers running without CPU restrictions", "Container running without CPU restrictions", func(c *Container) bool {
			return c.HostConfig.CPUShares == 0 && c.HostConfig.NanoCpus == 0
		})},
		check{id: "5.13", containers: true, run: eachContainer(Warn, "Containers running with root FS mounted R/W", "Container running with root FS mounted R/W", func(c *Container) bool {
			return !c.HostConfig.ReadonlyRootfs
		})},
		check{id: "5.14", containers: true, run: portCheck("Containers with port bound to wildcard IP", func(p hostPort) (string, bool) {
			return "Port being bound to wildcard IP: " + p.ip, p.ip == "0.0.0.0"
		})},
		check{id: "5.15", containers: true, run: eachContainer(Warn, "Containers with MaximumRetryCount not set to 5 or less", "MaximumRetryCount is not set to 5 or less", func(c *Container) bool {
			return c.HostConfig.RestartPolicy.MaximumRetryCount > 5
		})},
		check{id: "5.16", containers: true, run: eachContainer(Warn, "Containers sharing host PID namespace", "Host PID namespace being shared with", func(c *Container) bool {
			return c.HostConfig.PidMode == "host"
		})},
		check{id: "5.17", containers: true, run: eachContainer(Warn, "Containers sharing host IPC namespace", "Host IPC namespace being shared with", func(c *Container) bool {
			return c.HostConfig.IpcMode == "host"
		})},
		check{id: "5.18", containers: true, run: eachContainer(Info, "Containers with host devices exposed directly", "Container has devices exposed directly", func(c *Container) bool {
			return len(c.HostConfig.Devices) > 0
		})},
		check{id: "5.19", containers: true, run: eachContainer(Info, "Containers with no default ulimit override", "Container no default ulimit override", func(c *Container) bool {
			return len(c.HostConfig.Ulimits) == 0
		})},
		check{id: "5.20", containers: true, run: eachContainer(Warn, "Containers with shared mount propagation", "Mount propagation mode is shared", func(c *Container) bool {
			for _, m := range c.Mounts {
				if strings.Contains(m.Propagation, "shared") {
					return true
				}
			}
			return false
		})},
		check{id: "5.21", containers: true, run: eachContainer(Warn, "Containers sharing host UTS namespace", "Host UTS namespace being shared with", func(c *Container) bool {
			return c.HostConfig.UTSMode == "host"
		})},
		check{id: "5.22", containers: true, run: eachContainer(Warn, "Containers with default seccomp profile disabled", "Default seccomp profile disabled", func(c *Container) bool {
			return hasOpt(c, "seccomp:unconfined", "seccomp=unconfined")
		})},
		check{id: "5.23", containers: true, run: manual("docker exec's options are not kept by the engine once the session ends; they are in the engine's event stream and the host's audit log.")},
		check{id: "5.24", containers: true, run: manual("docker exec's options are not kept by the engine once the session ends; they are in the engine's event stream and the host's audit log.")},
		check{id: "5.25", containers: true, run: eachContainer(Warn, "Containers using unexpected cgroup", "Confirm cgroup usage", func(c *Container) bool {
			return c.HostConfig.CgroupParent != ""
		})},
		check{id: "5.26", containers: true, run: func(r *run, res *Result) {
			if r.arg("--no-new-privileges") != "" || r.cfgTrue("no-new-privileges") {
				res.set(Pass, true, "")
				return
			}
			eachContainer(Warn, "Containers without restricted privileges", "Privileges not restricted", func(c *Container) bool {
				return !hasOpt(c, "no-new-privileges")
			})(r, res)
		}},
		check{id: "5.27", containers: true, run: eachContainer(Warn, "Containers without health check", "Health check not set", func(c *Container) bool {
			return c.State.Health == nil
		})},
		check{id: "5.28", containers: true, run: func(r *run, res *Result) {
			res.manual(Info, "Whether containers are started from the latest pinned image is a property of how they are deployed, not of the engine.")
		}},
		check{id: "5.29", containers: true, run: eachContainer(Warn, "Containers without PIDs cgroup limit", "PIDs limit not set", func(c *Container) bool {
			p := c.HostConfig.PidsLimit
			return p == nil || *p == 0 || *p == -1
		})},
		check{id: "5.30", containers: true, run: func(r *run, res *Result) {
			var items []string
			for _, n := range r.h.Networks {
				if n.Options["com.docker.network.bridge.name"] != "docker0" {
					continue
				}
				ids := make([]string, 0, len(n.Containers))
				for id := range n.Containers {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				for _, id := range ids {
					name := n.Containers[id].Name
					if !r.opt.selected(name) {
						continue
					}
					items = append(items, id+":"+name)
					res.line(Info, "* Container in docker0 network: "+name)
				}
			}
			res.list(Info, false, "Containers using docker0 network", items)
		}},
		check{id: "5.31", containers: true, run: eachContainer(Warn, "Containers sharing host user namespace", "Namespace shared", func(c *Container) bool {
			return strings.Contains(strings.ToLower(c.HostConfig.UsernsMode), "host")
		})},
		check{id: "5.32", containers: true, run: eachContainer(Warn, "Containers sharing docker socket", "Docker socket shared", func(c *Container) bool {
			for _, m := range c.Mounts {
				if strings.Contains(m.Source, "docker.sock") || strings.Contains(m.Destination, "docker.sock") {
					return true
				}
			}
			return false
		})},
		check{id: "6.1", run: func(r *run, res *Result) {
			ids := map[string]bool{}
			for _, im := range r.h.Images {
				ids[im.ID] = true
			}
			active := 0
			for _, id := range r.h.ContainerImages {
				if ids[id] {
					active++
				}
			}
			res.line(Info, fmt.Sprintf("* There are currently: %d images", len(ids)))
			if active < len(ids)/2 {
				res.line(Info, fmt.Sprintf("* Only %d out of %d are in use", active, len(ids)))
			}
			res.manual(Info, "Which images are still needed is a decision about the workloads.")
			res.Details = fmt.Sprintf("%d active/%d in use", active, len(ids))
		}},
		check{id: "6.2", run: func(r *run, res *Result) {
			total, running := r.h.Info.Containers, len(r.h.Containers)
			if r.opt.allRunning >= 0 {
				running = r.opt.allRunning
			}
			if total-running > 25 {
				res.line(Info, fmt.Sprintf("* There are currently a total of %d containers, with only %d of them currently running", total, running))
			} else {
				res.line(Info, fmt.Sprintf("* There are currently a total of %d containers, with %d of them currently running", total, running))
			}
			res.manual(Info, "Which stopped containers are still needed is a decision about the workloads.")
			res.Details = fmt.Sprintf("%d total/%d running", total, running)
		}},
		check{id: "7.1", run: swarmCheck(func(r *run, res *Result) {
			if r.h.Swarm != nil && r.h.Swarm.Leaders == 1 {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}, true)},
		check{id: "7.2", run: swarmCheck(func(r *run, res *Result) {
			if r.h.Swarm != nil && r.h.Swarm.ManagerPortWildcard {
				res.set(Warn, true, "")
				return
			}
			res.set(Pass, true, "")
		}, true)},
		check{id: "7.3", run: func(r *run, res *Result) {
			var items []string
			for _, n := range r.h.Networks {
				if n.Driver != "overlay" {
					continue
				}
				if _, enc := n.Options["encrypted"]; !enc {
					item := n.Name + " (" + n.Scope + ")"
					items = append(items, item)
					res.line(Warn, "* Unencrypted overlay network: "+item)
				}
			}
			res.list(Warn, true, "Unencrypted overlay networks:", items)
		}},
		check{id: "7.4", run: swarmCheck(func(r *run, res *Result) {
			if r.h.Swarm != nil && r.h.Swarm.Secrets >= 1 {
				res.set(Pass, false, "")
				return
			}
			res.manual(Info, "No swarm secrets exist; whether services keep secrets elsewhere needs a person.")
		}, false)},
		check{id: "7.5", run: swarmCheck(func(r *run, res *Result) {
			if r.h.Swarm != nil && r.h.Swarm.UnlockKey {
				res.set(Pass, true, "")
				return
			}
			res.set(Warn, true, "")
		}, true)},
		check{id: "7.6", run: swarmCheck(func(r *run, res *Result) {
			res.manual(Note, "Key rotation is a schedule the engine does not record.")
		}, false)},
		check{id: "7.7", run: swarmCheck(func(r *run, res *Result) {
			if c := r.h.Info.Swarm.Cluster; c != nil && time.Duration(c.Spec.CAConfig.NodeCertExpiry) == 48*time.Hour {
				res.set(Pass, false, "")
				return
			}
			res.manual(Info, "Node certificates expire later than 2 days; whether that is appropriate needs a person.")
		}, false)},
		check{id: "7.8", run: swarmCheck(func(r *run, res *Result) {
			res.manual(Info, "CA rotation is a schedule the engine does not record.")
		}, false)},
		check{id: "7.9", run: swarmCheck(func(r *run, res *Result) {
			res.manual(Info, "Which interfaces carry management and data traffic is a network design question.")
		}, false)},
	)
	for _, id := range []string{"8.1.1", "8.1.2", "8.1.3", "8.1.4", "8.1.5", "8.1.6", "8.1.7", "8.2.1"} {
		register(check{id: id, enterprise: true, run: manual("Mirantis Container Runtime (Docker Enterprise) UCP and DTR settings are not visible through the engine API.")})
	}
	register(
		check{id: "C.1", run: func(r *run, res *Result) {
			switch r.h.Info.Architecture {
			case "x86_64":
				res.set(Pass, true, "")
			case "aarch64":
				res.set(Info, false, "")
			default:
				res.set(Warn, true, "")
			}
		}},
		check{id: "C.1.1", run: func(r *run, res *Result) {
			switch r.h.Info.Architecture {
			case "x86_64":
				res.set(Pass, false, "")
			case "aarch64":
				res.set(Info, false, "")
			default:
				res.set(Warn, false, "")
			}
		}},
		check{id: "C.2", run: func(r *run, res *Result) {
			if r.versionDigits() < 1712 {
				if r.cfgTrue("disable-legacy-registry") || r.arg("--disable-legacy-registry") != "" {
					res.set(Pass, true, "")
					return
				}
				res.set(Warn, true, "")
				return
			}
			res.Suffix = "(Deprecated)"
			res.manual(Info, "The legacy v1 registry protocol was removed in Docker 17.12.")
		}},
		check{id: "C.5.3.1", run: capCheck("DAC_READ_SEARCH")},
		check{id: "C.5.3.2", run: capCheck("SYS_MODULE")},
		check{id: "C.5.3.3", run: capCheck("SYS_ADMIN")},
		check{id: "C.5.3.4", run: capCheck("SYS_PTRACE")},
	)
}

func manual(why string) func(*run, *Result) {
	return func(_ *run, res *Result) { res.manual(Note, why) }
}

// swarmCheck runs f on a swarm node; elsewhere it passes, marked "(Swarm
// mode not enabled)".
func swarmCheck(f func(*run, *Result), scored bool) func(*run, *Result) {
	return func(r *run, res *Result) {
		if r.swarmActive() {
			f(r, res)
			return
		}
		res.Suffix = "(Swarm mode not enabled)"
		res.set(Pass, scored, "")
	}
}

func certsCheck(ok func(File) bool, wrong string) func(*run, *Result) {
	return func(r *run, res *Result) {
		const dir = "/etc/docker/certs.d/"
		if f, found := r.file(strings.TrimSuffix(dir, "/")); !found || f.Type != "dir" {
			res.line(Info, "* Directory not found")
			res.set(Info, false, "Directory not found")
			return
		}
		for _, f := range r.h.RegistryCerts {
			if !ok(f) {
				msg := wrong + " " + dir
				res.line(Warn, "* "+msg)
				res.set(Warn, true, msg)
				return
			}
		}
		res.set(Pass, true, "")
	}
}

func capCheck(name string) func(*run, *Result) {
	return func(r *run, res *Result) {
		var items []string
		for _, c := range r.containers {
			if hasCap(c, name) {
				items = append(items, c.name())
				res.line(Warn, "* CAP_"+name+" added to "+c.name())
			}
		}
		res.list(Warn, true, "CAP_"+name+" capability added for containers", items)
	}
}
