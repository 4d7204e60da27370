package dockerbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"bulwark.dev/bulwark/internal/checks"
)

// Host is everything the benchmark reads, taken at one moment. Gather
// builds it from a live engine and host; a saved one (--save-state)
// replays the same run anywhere.
type Host struct {
	// Info is the part of the engine's GET /info the checks read.
	Info EngineInfo `json:"info"`
	// Version is the engine's GET /version.
	Version Version `json:"version"`
	// DaemonArgs is the newest dockerd's command line (argv).
	DaemonArgs []string `json:"daemonArgs,omitempty"`
	// ConfigFile is the daemon configuration file read: --config-file,
	// else /etc/docker/daemon.json; empty when there is none.
	ConfigFile string `json:"configFile,omitempty"`
	// Config is ConfigFile's content.
	Config map[string]any `json:"config,omitempty"`
	// ConfigRaw is ConfigFile's text (2.7 looks for a tcp:// host in it).
	ConfigRaw string `json:"configRaw,omitempty"`
	// Files are the host files the benchmark looks at, by absolute path;
	// a path that is not there is absent.
	Files map[string]File `json:"files,omitempty"`
	// Units maps a systemd unit name (docker.service, docker.socket,
	// containerd.sock) to the file docker-bench-security would read for it.
	Units map[string]string `json:"units,omitempty"`
	// RegistryCerts are the *.crt files under /etc/docker/certs.d.
	RegistryCerts []File `json:"registryCerts,omitempty"`
	// Audit is the audit rules in force.
	Audit Audit `json:"audit"`
	// DockerGroup is the docker group's members; nil when there is no
	// such group.
	DockerGroup []string `json:"dockerGroup"`
	// RootIsMount reports whether the engine's data directory (its
	// parent under user namespaces) is a mount point of its own.
	RootIsMount bool `json:"rootIsMount"`
	// ContentTrust is $DOCKER_CONTENT_TRUST of the run.
	ContentTrust string `json:"contentTrust,omitempty"`
	// Containers are the running containers, newest first (docker ps).
	Containers []Container `json:"containers"`
	// Images are the engine's images (docker images), with their history.
	Images []Image `json:"images"`
	// ContainerImages is the image ID of every container, stopped ones
	// included (6.1).
	ContainerImages []string `json:"containerImages,omitempty"`
	// Networks are the engine's networks.
	Networks []Network `json:"networks,omitempty"`
	// Swarm is read only when the engine is a swarm node.
	Swarm *Swarm `json:"swarm,omitempty"`
}

// EngineInfo is the part of GET /info the checks read.
type EngineInfo struct {
	DockerRootDir      string   `json:"DockerRootDir"`
	Driver             string   `json:"Driver"`
	LoggingDriver      string   `json:"LoggingDriver"`
	SecurityOptions    []string `json:"SecurityOptions"`
	LiveRestoreEnabled bool     `json:"LiveRestoreEnabled"`
	Containers         int      `json:"Containers"`
	Architecture       string   `json:"Architecture"`
	Swarm              struct {
		LocalNodeState string `json:"LocalNodeState"`
		Cluster        *struct {
			Spec struct {
				CAConfig struct {
					NodeCertExpiry int64 `json:"NodeCertExpiry"`
				} `json:"CAConfig"`
			} `json:"Spec"`
		} `json:"Cluster,omitempty"`
	} `json:"Swarm"`
}

// Version is the part of GET /version the checks read.
type Version struct {
	Version  string `json:"Version"`
	Platform struct {
		Name string `json:"Name"`
	} `json:"Platform"`
	Experimental bool `json:"Experimental"`
}

// File is one file's type, ownership and mode.
type File struct {
	Path  string `json:"path"`
	Type  string `json:"type"` // file, dir, socket, other
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
	Mode  uint32 `json:"mode"` // permission bits (and setuid, setgid, sticky)
}

// Audit is the audit rules and where they came from.
type Audit struct {
	// Source is "auditctl" (the kernel's rules, auditctl -l) or the
	// rules file read when auditctl is not installed.
	Source string   `json:"source"`
	Rules  []string `json:"rules,omitempty"`
}

// Container is a running container: its inspect data (the model the
// configuration checks share) and the processes running in it.
type Container struct {
	checks.DockerContainer
	// Processes are the command lines running in the container (5.7).
	Processes []string `json:"processes,omitempty"`
}

// Mount is one of a container's mounts.
type Mount = checks.DockerMount

// name is the container's name as docker ps prints it.
func (c *Container) name() string {
	if len(c.Name) > 0 && c.Name[0] == '/' {
		return c.Name[1:]
	}
	return c.Name
}

// Image is an image with the parts of its inspect data and history the
// checks read.
type Image struct {
	ID       string   `json:"Id"`
	RepoTags []string `json:"RepoTags"`
	Config   struct {
		Healthcheck *struct {
			Test []string `json:"Test"`
		} `json:"Healthcheck"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	// History is each layer's created-by, newest first (docker history).
	History []string `json:"history,omitempty"`
}

// Network is the part of GET /networks/{id} the checks read.
type Network struct {
	ID         string            `json:"Id"`
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Scope      string            `json:"Scope"`
	Options    map[string]string `json:"Options"`
	Containers map[string]struct {
		Name string `json:"Name"`
	} `json:"Containers"`
}

// Swarm is what the swarm checks (section 7) read on a swarm node.
type Swarm struct {
	Leaders int `json:"leaders"`
	Secrets int `json:"secrets"`
	// UnlockKey is whether the swarm has an unlock key (auto-lock on).
	UnlockKey bool `json:"unlockKey"`
	// ManagerPortWildcard is whether port 2377 listens on every address.
	ManagerPortWildcard bool `json:"managerPortWildcard"`
}

// maxState caps a saved snapshot: thousands of containers fit easily.
const maxState = 256 << 20

// ParseHost reads a snapshot written by Gather's caller (--save-state).
// Unknown keys are an error, so a snapshot from something else is not
// silently judged as an empty host.
func ParseHost(name string, r io.Reader) (*Host, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxState+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxState {
		return nil, fmt.Errorf("%s: larger than %d MiB; not a docker bench snapshot", name, maxState>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var h Host
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%s: not a docker bench snapshot: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the snapshot", name)
	}
	if h.Version.Version == "" && h.Info.DockerRootDir == "" {
		return nil, fmt.Errorf("%s: no engine info or version; not a docker bench snapshot", name)
	}
	return &h, nil
}
