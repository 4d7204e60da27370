package checks

import (
	"encoding/json"

	"bulwark.dev/bulwark/internal/severity"
)

// hardenedDocker is a snapshot that passes every docker check.
func hardenedDocker() *DockerState {
	st := &DockerState{
		Host: "unix:///var/run/docker.sock",
		Info: DockerInfo{ServerVersion: "27.0.0", LoggingDriver: "journald", LiveRestoreEnabled: true,
			SecurityOptions: []string{"name=apparmor", "name=seccomp,profile=builtin", "name=userns"}},
		DaemonConfig:  map[string]any{"no-new-privileges": true, "live-restore": true, "icc": false},
		DaemonArgs:    []string{"/usr/bin/dockerd", "-H", "fd://"},
		BridgeOptions: map[string]string{"com.docker.network.bridge.enable_icc": "false"},
		Files: []DockerFile{
			{Path: "/etc/docker", Mode: 0o755, Dir: true},
			{Path: "/etc/docker/daemon.json", Mode: 0o644},
			{Path: "/var/run/docker.sock", GID: 998, Group: "docker", Mode: 0o660},
		},
	}
	var c DockerContainer
	c.ID, c.Name = "0123456789ab", "/web"
	c.Config.User, c.Config.Image = "10001", "registry.example.com/web:1.4.2"
	h := &c.HostConfig
	h.ReadonlyRootfs, h.CapDrop, h.SecurityOpt = true, []string{"ALL"}, []string{"no-new-privileges"}
	pids := int64(256)
	h.PidsLimit, h.Memory, h.NanoCpus = &pids, 256<<20, 500_000_000
	h.NetworkMode, h.PidMode, h.IpcMode = "bridge", "", "private"
	h.RestartPolicy.Name, h.RestartPolicy.MaximumRetryCount = "on-failure", 5
	h.PortBindings = map[string][]DockerPort{"8080/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}}
	st.Containers = []DockerContainer{c}
	return st
}

func dockerExample(edit func(*DockerState)) string {
	st := hardenedDocker()
	if edit != nil {
		edit(st)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return string(b)
}

func ctr(edit func(*DockerContainer)) string {
	return dockerExample(func(st *DockerState) { edit(&st.Containers[0]) })
}

func dockerChecks() []*Check {
	good := dockerExample(nil)
	return []*Check{
		{ID: "BW-DKR-001", Title: "The daemon should remap user namespaces", Severity: severity.Medium, Target: TargetDocker,
			Description: "Without userns-remap, UID 0 in a container is UID 0 on the host.",
			Remediation: "Set \"userns-remap\": \"default\" in /etc/docker/daemon.json.",
			Good:        good, Bad: dockerExample(func(s *DockerState) {
				s.Info.SecurityOptions = []string{"name=apparmor", "name=seccomp,profile=builtin"}
			}),
			applies: isDockerDaemon, check: checkDockerUserns},
		{ID: "BW-DKR-002", Title: "The daemon should enable live-restore", Severity: severity.Low, Target: TargetDocker,
			Description: "With live-restore, containers keep running while the daemon restarts or is upgraded.",
			Remediation: "Set \"live-restore\": true in daemon.json.",
			Good:        good, Bad: dockerExample(func(s *DockerState) { s.Info.LiveRestoreEnabled = false }),
			applies: isDockerDaemon, check: checkDockerLiveRestore},
		{ID: "BW-DKR-003", Title: "Inter-container communication on the default bridge should be off", Severity: severity.Medium, Target: TargetDocker,
			Description: "With icc enabled every container on the default bridge can reach every other one.",
			Remediation: "Set \"icc\": false in daemon.json and connect containers through user-defined networks.",
			Good:        good, Bad: dockerExample(func(s *DockerState) {
				s.BridgeOptions = map[string]string{"com.docker.network.bridge.enable_icc": "true"}
			}),
			applies: isDockerDaemon, check: checkDockerICC},
		{ID: "BW-DKR-004", Title: "The daemon's default seccomp profile must be on", Severity: severity.High, Target: TargetDocker,
			Description: "The default seccomp profile blocks dozens of dangerous system calls for every container.",
			Remediation: "Remove \"seccomp-profile\": \"unconfined\" from daemon.json.",
			Good:        good, Bad: dockerExample(func(s *DockerState) { s.Info.SecurityOptions = []string{"name=apparmor", "name=userns"} }),
			applies: isDockerDaemon, check: checkDockerSeccompDefault},
		{ID: "BW-DKR-005", Title: "Containers should be confined by AppArmor or SELinux by default", Severity: severity.Medium, Target: TargetDocker,
			Description: "A mandatory access control layer limits what a compromised container can touch on the host.",
			Remediation: "Run the daemon on a host with AppArmor (docker-default profile) or SELinux (--selinux-enabled).",
			Good:        good, Bad: dockerExample(func(s *DockerState) { s.Info.SecurityOptions = []string{"name=seccomp,profile=builtin", "name=userns"} }),
			applies: isDockerDaemon, check: checkDockerAppArmorDefault},
		{ID: "BW-DKR-006", Title: "no-new-privileges should be the daemon default", Severity: severity.Medium, Target: TargetDocker,
			Description: "The default prevents setuid binaries from raising privileges in every container.",
			Remediation: "Set \"no-new-privileges\": true in daemon.json.",
			Good:        good, Bad: dockerExample(func(s *DockerState) { delete(s.DaemonConfig, "no-new-privileges") }),
			applies: isDockerDaemon, check: checkDockerNoNewPrivs},
		{ID: "BW-DKR-007", Title: "Container logs must be kept", Severity: severity.Medium, Target: TargetDocker,
			Description: "With the none logging driver container output, the evidence of an incident, is discarded.",
			Remediation: "Use a logging driver that ships logs off the host (journald, syslog, fluentd) or json-file with rotation.",
			Good:        good, Bad: dockerExample(func(s *DockerState) { s.Info.LoggingDriver = "none" }),
			applies: isDockerDaemon, check: checkDockerLogging},
		{ID: "BW-DKR-008", Title: "A TCP API socket must require TLS", Severity: severity.Critical, Target: TargetDocker,
			Description: "The Docker API without TLS client verification gives anyone who can reach the port root on the host.",
			Remediation: "Remove the tcp:// host or set tlsverify with tlscacert, tlscert and tlskey.",
			Good:        good, Bad: dockerExample(func(s *DockerState) { s.DaemonArgs = []string{"/usr/bin/dockerd", "-H", "tcp://0.0.0.0:2375"} }),
			applies: isDockerDaemon, check: checkDockerTLS},
		{ID: "BW-DKR-009", Title: "The daemon's files must have safe ownership and modes", Severity: severity.High, Target: TargetDocker,
			Description: "Writable unit files, configuration or a world-accessible socket let local users take over the daemon.",
			Remediation: "chown root:root (the socket root:docker) and chmod 644 (directories 755, the socket 660).",
			Good:        good, Bad: dockerExample(func(s *DockerState) { s.Files[2].Mode = 0o666 }),
			applies: isDockerDaemon, check: checkDockerFiles},
		{ID: "BW-DKR-010", Title: "Running containers must not be privileged", Severity: severity.Critical, Target: TargetDocker,
			Description: "A privileged container is root on the host.",
			Remediation: "Recreate the container without --privileged.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.Privileged = true }),
			applies: isDockerContainer, check: checkCtrPrivileged},
		{ID: "BW-DKR-011", Title: "Running containers should have a read-only root filesystem", Severity: severity.Medium, Target: TargetDocker,
			Description: "A writable root filesystem lets an attacker modify the container.",
			Remediation: "Recreate with --read-only and tmpfs or volumes for writable paths.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.ReadonlyRootfs = false }),
			applies: isDockerContainer, check: checkCtrReadOnly},
		{ID: "BW-DKR-012", Title: "Running containers must not run as root", Severity: severity.High, Target: TargetDocker,
			Description: "A container without a user runs as root.",
			Remediation: "Recreate with --user UID:GID, or set USER in the image.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.Config.User = "" }),
			applies: isDockerContainer, check: checkCtrUser},
		{ID: "BW-DKR-013", Title: "Running containers must drop capabilities", Severity: severity.Medium, Target: TargetDocker,
			Description: "Default capabilities (and added ones such as SYS_ADMIN) widen what a compromised process can do.",
			Remediation: "Recreate with --cap-drop ALL and add back only what is needed.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.CapDrop = nil; c.HostConfig.CapAdd = []string{"SYS_ADMIN"} }),
			applies: isDockerContainer, check: checkCtrCaps},
		{ID: "BW-DKR-014", Title: "Running containers must keep seccomp", Severity: severity.High, Target: TargetDocker,
			Description: "--security-opt seccomp=unconfined removes the system call filter.",
			Remediation: "Recreate without seccomp=unconfined.",
			Good:        good, Bad: ctr(func(c *DockerContainer) {
				c.HostConfig.SecurityOpt = append(c.HostConfig.SecurityOpt, "seccomp=unconfined")
			}),
			applies: isDockerContainer, check: checkCtrSeccomp},
		{ID: "BW-DKR-015", Title: "Running containers must keep AppArmor and SELinux confinement", Severity: severity.High, Target: TargetDocker,
			Description: "apparmor=unconfined or label=disable removes mandatory access control from the container.",
			Remediation: "Recreate without those security options.",
			Good:        good, Bad: ctr(func(c *DockerContainer) {
				c.HostConfig.SecurityOpt = append(c.HostConfig.SecurityOpt, "apparmor=unconfined")
			}),
			applies: isDockerContainer, check: checkCtrMAC},
		{ID: "BW-DKR-016", Title: "Running containers must not gain new privileges", Severity: severity.Medium, Target: TargetDocker,
			Description: "Without no-new-privileges, setuid binaries in the container can raise privileges.",
			Remediation: "Recreate with --security-opt no-new-privileges (or make it the daemon default).",
			Good:        good, Bad: dockerExample(func(s *DockerState) {
				delete(s.DaemonConfig, "no-new-privileges")
				s.Containers[0].HostConfig.SecurityOpt = nil
			}),
			applies: isDockerContainer, check: checkCtrNoNewPrivs},
		{ID: "BW-DKR-017", Title: "Running containers must have memory, CPU and PID limits", Severity: severity.Medium, Target: TargetDocker,
			Description: "Without limits one container can exhaust the host's memory, CPU or process table.",
			Remediation: "Recreate with --memory, --cpus and --pids-limit.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.Memory = 0; c.HostConfig.PidsLimit = nil }),
			applies: isDockerContainer, check: checkCtrLimits},
		{ID: "BW-DKR-018", Title: "Running containers must not share host namespaces", Severity: severity.High, Target: TargetDocker,
			Description: "--network host, --pid host, --ipc host and --uts host share the host's namespaces.",
			Remediation: "Recreate without the host namespace options.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.NetworkMode = "host" }),
			applies: isDockerContainer, check: checkCtrHostNamespaces},
		{ID: "BW-DKR-019", Title: "Running containers must not mount sensitive host paths", Severity: severity.Critical, Target: TargetDocker,
			Description: "Mounting the Docker socket, /, /etc, /proc or the runtime's directories gives control of the host.",
			Remediation: "Recreate without the bind mount.",
			Good:        good, Bad: ctr(func(c *DockerContainer) {
				c.Mounts = append(c.Mounts, DockerMount{Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", RW: true})
			}),
			applies: isDockerContainer, check: checkCtrMounts},
		{ID: "BW-DKR-020", Title: "Restart policies should bound retries", Severity: severity.Low, Target: TargetDocker,
			Description: "always and unless-stopped restart a crashing or compromised container forever.",
			Remediation: "Use --restart on-failure:5.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.RestartPolicy.Name = "always" }),
			applies: isDockerContainer, check: checkCtrRestart},
		{ID: "BW-DKR-021", Title: "Published ports should bind to a specific address", Severity: severity.Medium, Target: TargetDocker,
			Description: "-p PORT publishes on every interface of the host, bypassing host firewalls.",
			Remediation: "Publish as -p ADDRESS:PORT:PORT.",
			Good:        good, Bad: ctr(func(c *DockerContainer) { c.HostConfig.PortBindings["8080/tcp"][0].HostIP = "" }),
			applies: isDockerContainer, check: checkCtrPorts},
	}
}
