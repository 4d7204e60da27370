package checks

import (
	"encoding/json"
	"fmt"
	"strings"
)

// TargetDocker checks run on a snapshot of a Docker Engine: its /info,
// its daemon configuration, the ownership of its files and the inspect
// data of its containers. `bulwark check docker` gathers the snapshot
// live; a saved snapshot (--state) is checked the same way.
const TargetDocker = "docker"

// DockerState is the snapshot docker checks read.
type DockerState struct {
	Host string `json:"host"`
	// Info is the engine's GET /info answer.
	Info DockerInfo `json:"info"`
	// DaemonConfig is /etc/docker/daemon.json, when readable.
	DaemonConfig map[string]any `json:"daemonConfig,omitempty"`
	// DaemonArgs is dockerd's command line, when visible.
	DaemonArgs []string `json:"daemonArgs,omitempty"`
	// BridgeOptions are the default bridge network's options.
	BridgeOptions map[string]string `json:"bridgeOptions,omitempty"`
	Files         []DockerFile      `json:"files,omitempty"`
	Containers    []DockerContainer `json:"containers"`
}

// DockerInfo is the part of GET /info the checks use.
type DockerInfo struct {
	ServerVersion      string   `json:"ServerVersion"`
	SecurityOptions    []string `json:"SecurityOptions"`
	LoggingDriver      string   `json:"LoggingDriver"`
	LiveRestoreEnabled bool     `json:"LiveRestoreEnabled"`
}

// DockerFile is the ownership and mode of one of the daemon's files.
type DockerFile struct {
	Path  string `json:"path"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Group string `json:"group,omitempty"`
	Mode  uint32 `json:"mode"`
	Dir   bool   `json:"dir,omitempty"`
}

// DockerContainer is the part of GET /containers/{id}/json the checks
// (and the CIS Docker Benchmark, internal/dockerbench) read.
type DockerContainer struct {
	ID              string `json:"Id"`
	Name            string `json:"Name"`
	Image           string `json:"Image,omitempty"`
	AppArmorProfile string `json:"AppArmorProfile,omitempty"`
	Config          struct {
		User   string            `json:"User"`
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels,omitempty"`
	} `json:"Config"`
	State struct {
		Health *DockerHealth `json:"Health,omitempty"`
	} `json:"State,omitzero"`
	HostConfig struct {
		Privileged     bool     `json:"Privileged"`
		ReadonlyRootfs bool     `json:"ReadonlyRootfs"`
		CapAdd         []string `json:"CapAdd"`
		CapDrop        []string `json:"CapDrop"`
		SecurityOpt    []string `json:"SecurityOpt"`
		PidsLimit      *int64   `json:"PidsLimit"`
		Memory         int64    `json:"Memory"`
		NanoCpus       int64    `json:"NanoCpus"`
		CPUQuota       int64    `json:"CpuQuota"`
		CPUShares      int64    `json:"CpuShares"`
		NetworkMode    string   `json:"NetworkMode"`
		PidMode        string   `json:"PidMode"`
		IpcMode        string   `json:"IpcMode"`
		UTSMode        string   `json:"UTSMode"`
		UsernsMode     string   `json:"UsernsMode,omitempty"`
		CgroupParent   string   `json:"CgroupParent,omitempty"`
		Devices        []any    `json:"Devices,omitempty"`
		Ulimits        []any    `json:"Ulimits,omitempty"`
		Binds          []string `json:"Binds"`
		RestartPolicy  struct {
			Name              string `json:"Name"`
			MaximumRetryCount int    `json:"MaximumRetryCount"`
		} `json:"RestartPolicy"`
		PortBindings map[string][]DockerPort `json:"PortBindings"`
	} `json:"HostConfig"`
	Mounts          []DockerMount `json:"Mounts"`
	NetworkSettings struct {
		// Ports are the published ports as they are (docker port), where
		// HostConfig.PortBindings is what was asked for.
		Ports map[string][]DockerPort `json:"Ports,omitempty"`
	} `json:"NetworkSettings,omitzero"`
}

// DockerHealth is a container's health check state.
type DockerHealth struct {
	Status string `json:"Status"`
}

// DockerPort is one host binding of a container port.
type DockerPort struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// DockerMount is one of a container's mounts.
type DockerMount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation,omitempty"`
}

// ParseDockerState reads a saved snapshot and returns its objects: the
// daemon and each container.
func ParseDockerState(name string, b []byte) ([]*Object, error) {
	var st DockerState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("docker state %s: %w", name, err)
	}
	return DockerObjects(name, &st), nil
}

// DockerObjects turns a snapshot into check objects.
func DockerObjects(source string, st *DockerState) []*Object {
	out := []*Object{{File: source, Line: 1, Kind: "DockerDaemon", Name: st.Host, docker: st}}
	for i := range st.Containers {
		c := &st.Containers[i]
		out = append(out, &Object{File: source, Line: 1, Kind: "Container", Name: strings.TrimPrefix(c.Name, "/"), docker: st, container: c})
	}
	return out
}

func isDockerDaemon(o *Object) bool    { return o.Kind == "DockerDaemon" && o.docker != nil }
func isDockerContainer(o *Object) bool { return o.container != nil }

func hasSecurityOption(st *DockerState, name string) (string, bool) {
	for _, s := range st.Info.SecurityOptions {
		for _, kv := range strings.Split(s, ",") {
			if kv == "name="+name {
				return s, true
			}
		}
	}
	return "", false
}

func one(msg string, args ...any) []Failure { return []Failure{failf(1, msg, args...)} }

func checkDockerUserns(_ *Env, o *Object) []Failure {
	if _, ok := hasSecurityOption(o.docker, "userns"); !ok {
		return one("user namespace remapping is off: root in a container is root on the host (set userns-remap)")
	}
	return nil
}

func checkDockerLiveRestore(_ *Env, o *Object) []Failure {
	if !o.docker.Info.LiveRestoreEnabled {
		return one("live-restore is off: restarting the daemon stops every container")
	}
	return nil
}

func checkDockerICC(_ *Env, o *Object) []Failure {
	if o.docker.BridgeOptions["com.docker.network.bridge.enable_icc"] != "false" {
		return one("containers on the default bridge can talk to each other (set icc: false)")
	}
	return nil
}

func checkDockerSeccompDefault(_ *Env, o *Object) []Failure {
	s, ok := hasSecurityOption(o.docker, "seccomp")
	if !ok || strings.Contains(s, "profile=unconfined") {
		return one("the daemon's default seccomp profile is disabled")
	}
	return nil
}

func checkDockerAppArmorDefault(_ *Env, o *Object) []Failure {
	if _, ok := hasSecurityOption(o.docker, "apparmor"); !ok {
		if _, se := hasSecurityOption(o.docker, "selinux"); !se {
			return one("neither AppArmor nor SELinux confines containers by default on this host")
		}
	}
	return nil
}

func checkDockerNoNewPrivs(_ *Env, o *Object) []Failure {
	if v, _ := o.docker.DaemonConfig["no-new-privileges"].(bool); !v && !slicesContains(o.docker.DaemonArgs, "--no-new-privileges") {
		return one("no-new-privileges is not the daemon default (daemon.json: \"no-new-privileges\": true)")
	}
	return nil
}

func checkDockerLogging(_ *Env, o *Object) []Failure {
	if d := o.docker.Info.LoggingDriver; d == "none" || d == "" {
		return one("container logs are discarded (logging driver %q)", d)
	}
	return nil
}

func checkDockerTLS(_ *Env, o *Object) []Failure {
	var hosts []string
	for i, a := range o.docker.DaemonArgs {
		if (a == "-H" || a == "--host") && i+1 < len(o.docker.DaemonArgs) {
			hosts = append(hosts, o.docker.DaemonArgs[i+1])
		}
		if v, ok := strings.CutPrefix(a, "--host="); ok {
			hosts = append(hosts, v)
		}
	}
	if hs, ok := o.docker.DaemonConfig["hosts"].([]any); ok {
		for _, h := range hs {
			hosts = append(hosts, fmt.Sprint(h))
		}
	}
	tls, _ := o.docker.DaemonConfig["tlsverify"].(bool)
	tls = tls || slicesContains(o.docker.DaemonArgs, "--tlsverify")
	for _, h := range hosts {
		if strings.HasPrefix(h, "tcp://") && !tls {
			return one("the API listens on %s without TLS client verification (tlsverify)", h)
		}
	}
	return nil
}

// dockerFileRules are the CIS Docker section 3 expectations: owner and
// the most permissive mode.
var dockerFileRules = map[string]struct {
	group string
	mode  uint32
}{
	"/lib/systemd/system/docker.service":     {"root", 0o644},
	"/lib/systemd/system/docker.socket":      {"root", 0o644},
	"/usr/lib/systemd/system/docker.service": {"root", 0o644},
	"/usr/lib/systemd/system/docker.socket":  {"root", 0o644},
	"/etc/docker":                            {"root", 0o755},
	"/etc/docker/daemon.json":                {"root", 0o644},
	"/etc/default/docker":                    {"root", 0o644},
	"/etc/sysconfig/docker":                  {"root", 0o644},
	"/var/run/docker.sock":                   {"docker", 0o660},
	"/run/containerd/containerd.sock":        {"root", 0o660},
}

func checkDockerFiles(_ *Env, o *Object) []Failure {
	var out []Failure
	for _, f := range o.docker.Files {
		r, ok := dockerFileRules[f.Path]
		if !ok {
			continue
		}
		if f.UID != 0 || (r.group == "root" && f.GID != 0) || (r.group == "docker" && f.GID != 0 && f.Group != "docker") {
			out = append(out, failf(1, "%s is owned by %d:%d, want root:%s", f.Path, f.UID, f.GID, r.group))
		}
		if f.Mode&^r.mode != 0 {
			out = append(out, failf(1, "%s has mode %04o, more permissive than %04o", f.Path, f.Mode, r.mode))
		}
	}
	return out
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func securityOpt(c *DockerContainer, prefix string) (string, bool) {
	for _, s := range c.HostConfig.SecurityOpt {
		k, v, _ := strings.Cut(s, "=")
		if !strings.Contains(s, "=") {
			k, v, _ = strings.Cut(s, ":")
		}
		if k == prefix {
			return v, true
		}
	}
	return "", false
}

func containerOne(o *Object, msg string, args ...any) []Failure {
	return []Failure{failf(1, "container %s: %s", o.Name, fmt.Sprintf(msg, args...))}
}

func checkCtrPrivileged(_ *Env, o *Object) []Failure {
	if o.container.HostConfig.Privileged {
		return containerOne(o, "runs privileged")
	}
	return nil
}

func checkCtrReadOnly(_ *Env, o *Object) []Failure {
	if !o.container.HostConfig.ReadonlyRootfs {
		return containerOne(o, "root filesystem is writable (--read-only)")
	}
	return nil
}

func checkCtrUser(_ *Env, o *Object) []Failure {
	u := o.container.Config.User
	if u == "" || isRootUser(u) {
		return containerOne(o, "runs as root (user %q)", u)
	}
	return nil
}

func checkCtrCaps(_ *Env, o *Object) []Failure {
	var bad []string
	for _, c := range o.container.HostConfig.CapAdd {
		if isDangerousCap(c) {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		return containerOne(o, "adds dangerous capabilities %s", strings.Join(bad, ", "))
	}
	for _, d := range o.container.HostConfig.CapDrop {
		if strings.EqualFold(d, "ALL") {
			return nil
		}
	}
	return containerOne(o, "keeps the default capabilities (--cap-drop ALL)")
}

func checkCtrSeccomp(_ *Env, o *Object) []Failure {
	if v, ok := securityOpt(o.container, "seccomp"); ok && v == "unconfined" {
		return containerOne(o, "seccomp is unconfined")
	}
	return nil
}

func checkCtrMAC(_ *Env, o *Object) []Failure {
	if v, ok := securityOpt(o.container, "apparmor"); ok && v == "unconfined" {
		return containerOne(o, "AppArmor is unconfined")
	}
	if v, ok := securityOpt(o.container, "label"); ok && (v == "disable" || strings.HasPrefix(v, "type:spc_t")) {
		return containerOne(o, "SELinux labelling is disabled (label=%s)", v)
	}
	return nil
}

func checkCtrNoNewPrivs(_ *Env, o *Object) []Failure {
	v, ok := securityOpt(o.container, "no-new-privileges")
	if ok && (v == "" || v == "true") {
		return nil
	}
	if v, _ := o.docker.DaemonConfig["no-new-privileges"].(bool); v {
		return nil
	}
	return containerOne(o, "may gain privileges through setuid binaries (--security-opt no-new-privileges)")
}

func checkCtrLimits(_ *Env, o *Object) []Failure {
	h := o.container.HostConfig
	var missing []string
	if h.Memory == 0 {
		missing = append(missing, "memory")
	}
	if h.NanoCpus == 0 && h.CPUQuota == 0 {
		missing = append(missing, "CPU")
	}
	if h.PidsLimit == nil || *h.PidsLimit <= 0 {
		missing = append(missing, "PIDs")
	}
	if len(missing) > 0 {
		return containerOne(o, "no %s limit", strings.Join(missing, ", "))
	}
	return nil
}

func checkCtrHostNamespaces(_ *Env, o *Object) []Failure {
	h := o.container.HostConfig
	var ns []string
	for name, mode := range map[string]string{"network": h.NetworkMode, "PID": h.PidMode, "IPC": h.IpcMode, "UTS": h.UTSMode} {
		if mode == "host" {
			ns = append(ns, name)
		}
	}
	if len(ns) > 0 {
		sortStrings(ns)
		return containerOne(o, "shares the host's %s namespace", strings.Join(ns, ", "))
	}
	return nil
}

func checkCtrMounts(_ *Env, o *Object) []Failure {
	var out []Failure
	for _, m := range o.container.Mounts {
		if m.Type == "bind" && isSensitiveHostPath(m.Source) {
			out = append(out, containerOne(o, "mounts the host's %s at %s", m.Source, m.Destination)...)
		}
	}
	return out
}

func checkCtrRestart(_ *Env, o *Object) []Failure {
	r := o.container.HostConfig.RestartPolicy
	switch {
	case r.Name == "always" || r.Name == "unless-stopped":
		return containerOne(o, "restart policy %q restarts forever: use on-failure with at most 5 retries", r.Name)
	case r.Name == "on-failure" && (r.MaximumRetryCount == 0 || r.MaximumRetryCount > 5):
		return containerOne(o, "restart policy on-failure with %d retries (0 means unlimited): use at most 5", r.MaximumRetryCount)
	}
	return nil
}

func checkCtrPorts(_ *Env, o *Object) []Failure {
	var out []Failure
	for port, binds := range o.container.HostConfig.PortBindings {
		for _, b := range binds {
			if b.HostIP == "" || b.HostIP == "0.0.0.0" || b.HostIP == "::" {
				out = append(out, containerOne(o, "publishes %s on every host interface (host port %s): bind to a specific address", port, b.HostPort)...)
			}
		}
	}
	sortFailures(out)
	return out
}
