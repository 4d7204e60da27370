package dockerbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"bulwark.dev/bulwark/internal/checks"
)

// API is the part of a Docker Engine client gathering needs; the image
// package's DockerClient implements it.
type API interface {
	GetJSON(ctx context.Context, path string, v any) error
}

// EngineError is a failure to read the engine's API: the engine is not
// running, its socket is not readable, or it answered with an error.
type EngineError struct{ Err error }

func (e *EngineError) Error() string { return e.Err.Error() }
func (e *EngineError) Unwrap() error { return e.Err }

func engineErr(format string, args ...any) error { return &EngineError{fmt.Errorf(format, args...)} }

// GatherOptions say where the host is.
type GatherOptions struct {
	// Root is the host's filesystem: "/" on the host itself, or where it
	// is mounted (a container with the host's / at /host). Empty skips
	// the host files: a remote engine is judged by its API alone.
	Root string
	// Getenv reads the run's environment (DOCKER_CONTENT_TRUST).
	Getenv func(string) string
	// AuditRules returns the kernel's audit rules (auditctl -l); nil, or
	// an error, falls back to Root's /etc/audit/audit.rules, as
	// docker-bench-security does when auditctl is not installed.
	AuditRules func(ctx context.Context) ([]string, error)
}

// hostFiles are the files the checks stat, besides the units and the
// TLS files, which depend on the host.
var hostFiles = []string{
	"/usr/bin/dockerd", "/run/containerd", "/var/lib/docker", "/etc/docker", "/etc/default/docker",
	"/etc/docker/daemon.json", "/etc/containerd/config.toml", "/etc/sysconfig/docker",
	"/usr/bin/containerd", "/usr/bin/containerd-shim", "/usr/bin/containerd-shim-runc-v1",
	"/usr/bin/containerd-shim-runc-v2", "/usr/bin/runc", "/etc/docker/certs.d",
	"/var/run/docker.sock", "/run/containerd/containerd.sock",
}

// Gather takes a snapshot of a Docker Engine and, when o.Root is set, of
// the host it runs on.
func Gather(ctx context.Context, api API, o GatherOptions) (*Host, error) {
	h := &Host{Files: map[string]File{}, Units: map[string]string{}}
	if err := api.GetJSON(ctx, "/info", &h.Info); err != nil {
		return nil, engineErr("reading the engine's /info: %w", err)
	}
	if err := api.GetJSON(ctx, "/version", &h.Version); err != nil {
		return nil, engineErr("reading the engine's /version: %w", err)
	}
	if o.Getenv != nil {
		h.ContentTrust = o.Getenv("DOCKER_CONTENT_TRUST")
	}
	if err := gatherContainers(ctx, api, h); err != nil {
		return nil, err
	}
	if err := gatherImages(ctx, api, h); err != nil {
		return nil, err
	}
	if err := gatherNetworks(ctx, api, h); err != nil {
		return nil, err
	}
	if h.Info.Swarm.LocalNodeState == "active" {
		h.Swarm = gatherSwarm(ctx, api, o.Root)
	}
	if o.Root == "" {
		return h, nil
	}
	if err := gatherHost(ctx, h, o); err != nil {
		return nil, err
	}
	return h, nil
}

// each runs f on every index with a few at a time: a host with hundreds
// of containers is inspected in parallel, not one by one.
func each(ctx context.Context, n int, f func(int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func gatherContainers(ctx context.Context, api API, h *Host) error {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := api.GetJSON(ctx, "/containers/json", &list); err != nil {
		return engineErr("listing containers: %w", err)
	}
	h.Containers = make([]Container, len(list))
	gone := make([]bool, len(list))
	err := each(ctx, len(list), func(i int) error {
		id := url.PathEscape(list[i].ID)
		c := &h.Containers[i]
		if err := api.GetJSON(ctx, "/containers/"+id+"/json", c); err != nil {
			// It stopped between the list and the inspect: not running.
			gone[i] = true
			return nil
		}
		var top struct {
			Titles    []string   `json:"Titles"`
			Processes [][]string `json:"Processes"`
		}
		if err := api.GetJSON(ctx, "/containers/"+id+"/top", &top); err == nil {
			col := slices.Index(top.Titles, "CMD")
			if col < 0 {
				col = slices.Index(top.Titles, "COMMAND")
			}
			for _, p := range top.Processes {
				if col >= 0 && col < len(p) {
					c.Processes = append(c.Processes, p[col])
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	kept := h.Containers[:0]
	for i, c := range h.Containers {
		if !gone[i] {
			kept = append(kept, c)
		}
	}
	h.Containers = kept
	var all []struct {
		ImageID string `json:"ImageID"`
	}
	if err := api.GetJSON(ctx, "/containers/json?all=1", &all); err != nil {
		return engineErr("listing all containers: %w", err)
	}
	for _, c := range all {
		h.ContainerImages = append(h.ContainerImages, c.ImageID)
	}
	return nil
}

func gatherImages(ctx context.Context, api API, h *Host) error {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := api.GetJSON(ctx, "/images/json", &list); err != nil {
		return engineErr("listing images: %w", err)
	}
	h.Images = make([]Image, len(list))
	err := each(ctx, len(list), func(i int) error {
		id := url.PathEscape(list[i].ID)
		im := &h.Images[i]
		if err := api.GetJSON(ctx, "/images/"+id+"/json", im); err != nil {
			return engineErr("inspecting image %s: %w", list[i].ID, err)
		}
		var hist []struct {
			CreatedBy string `json:"CreatedBy"`
		}
		if err := api.GetJSON(ctx, "/images/"+id+"/history", &hist); err != nil {
			return engineErr("reading the history of image %s: %w", list[i].ID, err)
		}
		for _, l := range hist {
			im.History = append(im.History, l.CreatedBy)
		}
		return nil
	})
	return err
}

func gatherNetworks(ctx context.Context, api API, h *Host) error {
	var list []Network
	if err := api.GetJSON(ctx, "/networks", &list); err != nil {
		return engineErr("listing networks: %w", err)
	}
	for _, n := range list {
		if n.Options["com.docker.network.bridge.name"] != "docker0" && n.Driver != "overlay" {
			continue
		}
		var full Network
		if err := api.GetJSON(ctx, "/networks/"+url.PathEscape(n.ID), &full); err != nil {
			return engineErr("inspecting network %s: %w", n.Name, err)
		}
		h.Networks = append(h.Networks, full)
	}
	sort.Slice(h.Networks, func(i, j int) bool { return h.Networks[i].Name < h.Networks[j].Name })
	return nil
}

func gatherSwarm(ctx context.Context, api API, root string) *Swarm {
	s := &Swarm{}
	var nodes []struct {
		ManagerStatus *struct {
			Leader bool `json:"Leader"`
		} `json:"ManagerStatus"`
	}
	if api.GetJSON(ctx, "/nodes", &nodes) == nil {
		for _, n := range nodes {
			if n.ManagerStatus != nil && n.ManagerStatus.Leader {
				s.Leaders++
			}
		}
	}
	var secrets []json.RawMessage
	if api.GetJSON(ctx, "/secrets", &secrets) == nil {
		s.Secrets = len(secrets)
	}
	var key struct {
		UnlockKey string `json:"UnlockKey"`
	}
	if api.GetJSON(ctx, "/swarm/unlockkey", &key) == nil {
		s.UnlockKey = key.UnlockKey != ""
	}
	if root != "" {
		s.ManagerPortWildcard = listensWildcard(root, 2377)
	}
	return s
}

// listensWildcard reports whether a TCP socket listens on port on every
// address (0.0.0.0 or ::), from the host's /proc/net/tcp{,6}.
func listensWildcard(root string, port int) bool {
	for _, f := range []string{"proc/net/tcp", "proc/net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 4 || fs[3] != "0A" {
				continue
			}
			addr, p, ok := strings.Cut(fs[1], ":")
			n, err := strconv.ParseUint(p, 16, 16)
			if ok && err == nil && int(n) == port && strings.Trim(addr, "0") == "" {
				return true
			}
		}
	}
	return false
}

func gatherHost(ctx context.Context, h *Host, o GatherOptions) error {
	root := o.Root
	h.DaemonArgs = checks.DockerdArgs(filepath.Join(root, "proc"))
	r := &run{h: h, args: normalizeArgs(h.DaemonArgs)}
	for _, p := range []string{r.argValue("--config-file"), "/etc/docker/daemon.json"} {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		if err := json.Unmarshal(b, &h.Config); err != nil {
			return fmt.Errorf("daemon configuration %s is not valid JSON (the engine would not start with it): %w", p, err)
		}
		h.ConfigFile, h.ConfigRaw = p, string(b)
		break
	}
	for _, u := range []string{"docker.service", "docker.socket", "containerd.sock"} {
		h.Units[u] = unitFile(root, u)
	}
	paths := slices.Clone(hostFiles)
	for _, u := range h.Units {
		paths = append(paths, u)
	}
	for _, k := range []string{"tlscacert", "tlscert", "tlskey"} {
		paths = append(paths, tlsFile(k)(r))
	}
	users, groups := idNames(filepath.Join(root, "etc/passwd")), idNames(filepath.Join(root, "etc/group"))
	for _, p := range paths {
		if p == "" || !path.IsAbs(p) {
			continue
		}
		if f, ok := statIn(root, p, users, groups); ok {
			h.Files[p] = f
		}
	}
	certs := filepath.Join(root, "etc/docker/certs.d")
	filepath.WalkDir(certs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".crt") || !d.Type().IsRegular() {
			return nil
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if f, ok := statIn(root, rel, users, groups); ok {
			h.RegistryCerts = append(h.RegistryCerts, f)
		}
		return nil
	})
	h.Audit = auditRules(ctx, root, o.AuditRules)
	h.DockerGroup = groupMembers(filepath.Join(root, "etc/group"), "docker")
	dir := h.Info.DockerRootDir
	if slices.ContainsFunc(h.Info.SecurityOptions, func(s string) bool { return strings.Contains(s, "userns") }) {
		dir = path.Dir(dir)
	}
	h.RootIsMount = isMountPoint(root, dir)
	return nil
}

// unitFile is where docker-bench-security looks for a systemd unit: in
// /etc/systemd/system, then /lib/systemd/system, then the first file of
// that name under /run; "" when there is none.
func unitFile(root, name string) string {
	for _, d := range []string{"/etc/systemd/system/", "/lib/systemd/system/"} {
		if f, ok := statIn(root, d+name, nil, nil); ok && f.Type == "file" {
			return d + name
		}
	}
	found := ""
	filepath.WalkDir(filepath.Join(root, "run"), func(p string, d fs.DirEntry, err error) error {
		if found != "" {
			return filepath.SkipAll
		}
		if err == nil && d.Name() == name {
			found = "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		}
		return nil
	})
	return found
}

// resolveIn resolves p inside root as the kernel would with root as
// "/": symbolic links at any component, absolute ones included, stay
// inside root.
func resolveIn(root, p string) (string, bool) {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	cur, links := "/", 0
	for len(parts) > 0 {
		c := parts[0]
		parts = parts[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", false
		}
		t, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", false
		}
		if path.IsAbs(t) {
			cur = "/"
		}
		parts = append(strings.Split(strings.Trim(t, "/"), "/"), parts...)
	}
	return cur, true
}

// statIn stats p inside root, following symbolic links as test -f does
// but never out of root.
func statIn(root, p string, users, groups map[int]string) (File, bool) {
	resolved, ok := resolveIn(root, p)
	if !ok {
		return File{}, false
	}
	fi, err := os.Lstat(filepath.Join(root, resolved))
	if err != nil {
		return File{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return File{}, false
	}
	f := File{Path: p, UID: int(st.Uid), GID: int(st.Gid), Mode: st.Mode & 07777, User: users[int(st.Uid)], Group: groups[int(st.Gid)]}
	switch {
	case fi.Mode().IsRegular():
		f.Type = "file"
	case fi.IsDir():
		f.Type = "dir"
	case fi.Mode()&fs.ModeSocket != 0:
		f.Type = "socket"
	default:
		f.Type = "other"
	}
	// Without a name in the host's passwd and group files, ID 0 is still
	// root, as on every Linux system.
	if f.User == "" {
		f.User = idName(f.UID)
	}
	if f.Group == "" {
		f.Group = idName(f.GID)
	}
	return f, true
}

func idName(id int) string {
	if id == 0 {
		return "root"
	}
	return strconv.Itoa(id)
}

// idNames maps IDs to names from a passwd or group file.
func idNames(file string) map[int]string {
	m := map[int]string{}
	b, err := os.ReadFile(file)
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil {
			if _, dup := m[id]; !dup {
				m[id] = f[0]
			}
		}
	}
	return m
}

// groupMembers is a group's member list; nil when there is no group.
func groupMembers(file, group string) []string {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 4 && f[0] == group {
			members := []string{}
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					members = append(members, m)
				}
			}
			return members
		}
	}
	return nil
}

func auditRules(ctx context.Context, root string, fromKernel func(context.Context) ([]string, error)) Audit {
	if fromKernel != nil {
		if rules, err := fromKernel(ctx); err == nil {
			return Audit{Source: "auditctl", Rules: rules}
		}
	}
	const file = "/etc/audit/audit.rules"
	a := Audit{Source: file}
	f, err := os.Open(filepath.Join(root, file))
	if err != nil {
		return a
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			a.Rules = append(a.Rules, l)
		}
	}
	return a
}

// isMountPoint reports whether dir is a mount point, from the host's
// mount table.
func isMountPoint(root, dir string) bool {
	b, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return false
	}
	dir = path.Clean(dir)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.ReplaceAll(f[4], `\040`, " ") == dir {
			return true
		}
	}
	return false
}

// AuditctlRules reads the kernel's audit rules with auditctl -l; an
// error (auditctl not installed) makes Gather read the rules file.
func AuditctlRules(ctx context.Context) ([]string, error) {
	p, err := exec.LookPath("auditctl")
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, p, "-l").Output()
	if err != nil {
		return nil, fmt.Errorf("auditctl -l: %w", err)
	}
	var rules []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && l != "No rules" {
			rules = append(rules, l)
		}
	}
	return rules, nil
}
