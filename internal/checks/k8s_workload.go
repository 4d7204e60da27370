package checks

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

func isWorkload(o *Object) bool { return o.pod != nil }

// forContainers runs fn on each container (init containers included) and
// collects failures at the line of field (a key path inside the
// container) when it is written, else at the container's line.
func forContainers(o *Object, fn func(c *corev1.Container) string, field ...string) []Failure {
	var out []Failure
	for _, cr := range o.containers {
		if msg := fn(cr.Container); msg != "" {
			out = append(out, Failure{Line: lineAt(cr.Node, cr.Line, field...), Message: fmt.Sprintf("container %q: %s", cr.Name, msg)})
		}
	}
	return out
}

func podSC(o *Object) *corev1.PodSecurityContext {
	if o.pod.SecurityContext == nil {
		return &corev1.PodSecurityContext{}
	}
	return o.pod.SecurityContext
}

func sc(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		return &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

func checkRunAsNonRoot(_ *Env, o *Object) []Failure {
	p := podSC(o)
	return forContainers(o, func(c *corev1.Container) string {
		s := sc(c)
		nonRoot, uid, gid := p.RunAsNonRoot, p.RunAsUser, p.RunAsGroup
		if s.RunAsNonRoot != nil {
			nonRoot = s.RunAsNonRoot
		}
		if s.RunAsUser != nil {
			uid = s.RunAsUser
		}
		if s.RunAsGroup != nil {
			gid = s.RunAsGroup
		}
		switch {
		case uid != nil && *uid == 0:
			return "runs as UID 0 (runAsUser: 0)"
		case gid != nil && *gid == 0:
			return "runs with the root group (runAsGroup: 0): files of group root are writable to it"
		case uid != nil && *uid > 0:
			return ""
		case nonRoot != nil && *nonRoot:
			return ""
		}
		return "may run as root: set runAsNonRoot: true (or a non-zero runAsUser)"
	}, "securityContext", "runAsUser")
}

func checkReadOnlyRoot(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		if s := sc(c); s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem {
			return "root filesystem is writable (readOnlyRootFilesystem is not true)"
		}
		return ""
	}, "securityContext", "readOnlyRootFilesystem")
}

func checkPrivEsc(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		s := sc(c)
		if s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
			return "allowPrivilegeEscalation is not false"
		}
		return ""
	}, "securityContext", "allowPrivilegeEscalation")
}

func checkPrivileged(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		if s := sc(c); s.Privileged != nil && *s.Privileged {
			return "runs privileged"
		}
		return ""
	}, "securityContext", "privileged")
}

func checkDropAll(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		if s := sc(c); s.Capabilities != nil {
			for _, d := range s.Capabilities.Drop {
				if strings.EqualFold(string(d), "ALL") {
					return ""
				}
			}
		}
		return "does not drop all capabilities (capabilities.drop: [ALL])"
	}, "securityContext", "capabilities")
}

// dangerousCaps grant control over the host or other containers.
var dangerousCaps = []string{"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT",
	"SYS_TIME", "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON", "NET_RAW", "SYSLOG"}

func isDangerousCap(c string) bool {
	return slices.Contains(dangerousCaps, strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
}

func checkDangerousCaps(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		var bad []string
		if s := sc(c); s.Capabilities != nil {
			for _, a := range s.Capabilities.Add {
				if isDangerousCap(string(a)) {
					bad = append(bad, string(a))
				}
			}
		}
		if len(bad) > 0 {
			return "adds dangerous capabilities " + strings.Join(bad, ", ")
		}
		return ""
	}, "securityContext", "capabilities", "add")
}

func checkSeccomp(_ *Env, o *Object) []Failure {
	p := podSC(o)
	legacy := o.podMeta.annotations["seccomp.security.alpha.kubernetes.io/pod"]
	return forContainers(o, func(c *corev1.Container) string {
		prof := p.SeccompProfile
		if s := sc(c); s.SeccompProfile != nil {
			prof = s.SeccompProfile
		}
		if prof != nil {
			switch prof.Type {
			case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeLocalhost:
				return ""
			case corev1.SeccompProfileTypeUnconfined:
				return "seccomp profile is Unconfined"
			}
		}
		if a := o.podMeta.annotations["container.seccomp.security.alpha.kubernetes.io/"+c.Name]; a != "" {
			legacy = a
		}
		switch {
		case legacy == "runtime/default" || legacy == "docker/default" || strings.HasPrefix(legacy, "localhost/"):
			return ""
		case legacy == "unconfined":
			return "seccomp profile is unconfined (annotation)"
		}
		return "no seccomp profile (set seccompProfile.type: RuntimeDefault)"
	}, "securityContext", "seccompProfile")
}

func checkAppArmor(_ *Env, o *Object) []Failure {
	p := podSC(o)
	return forContainers(o, func(c *corev1.Container) string {
		prof := p.AppArmorProfile
		if s := sc(c); s.AppArmorProfile != nil {
			prof = s.AppArmorProfile
		}
		if prof != nil {
			if prof.Type == corev1.AppArmorProfileTypeUnconfined {
				return "AppArmor profile is Unconfined"
			}
			return ""
		}
		switch a := o.podMeta.annotations["container.apparmor.security.beta.kubernetes.io/"+c.Name]; {
		case a == "unconfined":
			return "AppArmor profile is unconfined (annotation)"
		case a == "runtime/default" || strings.HasPrefix(a, "localhost/"):
			return ""
		}
		return "no AppArmor profile (appArmorProfile.type: RuntimeDefault)"
	}, "securityContext", "appArmorProfile")
}

func checkSELinux(_ *Env, o *Object) []Failure {
	bad := func(opts *corev1.SELinuxOptions) string {
		if opts == nil {
			return ""
		}
		switch {
		case opts.Type == "spc_t":
			return "SELinux type spc_t (super-privileged container: unconfined)"
		case opts.User != "" || opts.Role != "":
			return "overrides the SELinux user or role"
		}
		return ""
	}
	if msg := bad(podSC(o).SELinuxOptions); msg != "" {
		return []Failure{{Line: o.Line, Message: "pod: " + msg}}
	}
	return forContainers(o, func(c *corev1.Container) string { return bad(sc(c).SELinuxOptions) }, "securityContext", "seLinuxOptions")
}

func untrusted(env *Env, o *Object) bool {
	k, v, _ := strings.Cut(env.UntrustedLabel, "=")
	for _, ls := range []map[string]string{o.labels, o.podMeta.labels} {
		if got, ok := ls[k]; ok && (v == "" || got == v) {
			return true
		}
	}
	return false
}

func checkSandbox(env *Env, o *Object) []Failure {
	if !untrusted(env, o) {
		return nil
	}
	rc := ""
	if o.pod.RuntimeClassName != nil {
		rc = *o.pod.RuntimeClassName
	}
	if slices.Contains(env.SandboxRuntimeClasses, rc) {
		return nil
	}
	return []Failure{failf(o.Line, "labelled %s but runtimeClassName is %q, not a sandbox (%s)", env.UntrustedLabel, rc, strings.Join(env.SandboxRuntimeClasses, ", "))}
}

func checkHostNamespaces(_ *Env, o *Object) []Failure {
	var ns []string
	if o.pod.HostNetwork {
		ns = append(ns, "hostNetwork")
	}
	if o.pod.HostPID {
		ns = append(ns, "hostPID")
	}
	if o.pod.HostIPC {
		ns = append(ns, "hostIPC")
	}
	if len(ns) == 0 {
		return nil
	}
	return []Failure{failf(lineAt(o.node, o.Line, append(o.podSpecPath, ns[0])...), "shares the host's namespaces: %s", strings.Join(ns, ", "))}
}

// sensitiveHostTrees give control of the node or the container runtime,
// with everything below them.
var sensitiveHostTrees = []string{"/etc", "/root", "/home", "/proc", "/sys", "/boot", "/dev",
	"/run/containerd", "/var/run/containerd", "/var/run/crio", "/run/crio", "/var/lib/kubelet",
	"/var/lib/docker", "/var/lib/containerd", "/etc/kubernetes", "/var/log"}

// sensitiveHostPaths are sensitive as exactly these paths: the root, the
// runtime state directories as a whole, the runtime sockets.
var sensitiveHostPaths = []string{"/", "/var", "/var/run", "/run", "/var/lib",
	"/var/run/docker.sock", "/run/docker.sock", "/var/run/containerd/containerd.sock", "/var/run/crio/crio.sock"}

func isSensitiveHostPath(p string) bool {
	p = path.Clean(p)
	if slices.Contains(sensitiveHostPaths, p) {
		return true
	}
	for _, s := range sensitiveHostTrees {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}

func checkHostPath(_ *Env, o *Object) []Failure {
	var out []Failure
	vols := nodeAt(o.node, append(o.podSpecPath, "volumes")...)
	for i, v := range o.pod.Volumes {
		if v.HostPath != nil && isSensitiveHostPath(v.HostPath.Path) {
			out = append(out, failf(itemLine(vols, i, o.Line), "volume %q mounts the host's %s", v.Name, v.HostPath.Path))
		}
	}
	return out
}

func checkHostPort(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				return fmt.Sprintf("binds host port %d", p.HostPort)
			}
		}
		return ""
	}, "ports")
}

func checkLimits(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		var missing []string
		if _, ok := c.Resources.Limits[corev1.ResourceCPU]; !ok {
			missing = append(missing, "cpu")
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			missing = append(missing, "memory")
		}
		if len(missing) > 0 {
			return "no " + strings.Join(missing, " or ") + " limit"
		}
		return ""
	}, "resources")
}

// splitImage returns an image reference's tag ("" when none) and digest.
func splitImage(ref string) (tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	return tag, digest
}

func checkDigest(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		if _, d := splitImage(c.Image); !strings.HasPrefix(d, "sha256:") {
			return fmt.Sprintf("image %q is not pinned by digest", c.Image)
		}
		return ""
	}, "image")
}

func checkLatest(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		tag, d := splitImage(c.Image)
		if d == "" && (tag == "" || tag == "latest") {
			return fmt.Sprintf("image %q uses the latest tag", c.Image)
		}
		return ""
	}, "image")
}

func checkAutomount(_ *Env, o *Object) []Failure {
	if a := o.pod.AutomountServiceAccountToken; a != nil && !*a || a == nil && o.saNoAutomount {
		return nil
	}
	return []Failure{failf(o.Line, "the service account token is mounted (automountServiceAccountToken is not false)")}
}

var (
	secretName = lazyRE(`(?i)(passw(or)?d|pwd|secret|token|api_?key|private_?key|access_?key|credential|auth|bearer|jwt|(^|_)key$)`)
	// secretValue recognizes credentials by their form, whatever the
	// variable is called: AWS access keys, PEM private keys, bearer tokens.
	secretValue = lazyRE(`(?i)(^|[^A-Z0-9])AKIA[0-9A-Z]{16}|-{3,}BEGIN [A-Z ]*PRIVATE KEY-{3,}|^bearer\s+\S+`)
)

// literalSecret reports whether an environment variable carries a
// secret in its literal value. Paths (SECRET_KEY_PATH=/run/secrets/k)
// point at secrets without holding them.
func literalSecret(e corev1.EnvVar) bool {
	if e.Value == "" || e.ValueFrom != nil || strings.HasPrefix(e.Value, "$(") || strings.HasPrefix(e.Value, "/") {
		return false
	}
	return secretName().MatchString(e.Name) || secretValue().MatchString(e.Value)
}

func checkEnvSecrets(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		var names []string
		for _, e := range c.Env {
			if literalSecret(e) {
				names = append(names, e.Name)
			}
		}
		if len(names) > 0 {
			return "literal secret values in environment variables " + strings.Join(names, ", ") + " (use secretKeyRef or a mounted secret)"
		}
		return ""
	}, "env")
}

// checkSecretEnvRefs flags secrets exposed as environment variables:
// they leak through process listings, crash dumps and child processes;
// files can be rotated and restricted.
func checkSecretEnvRefs(_ *Env, o *Object) []Failure {
	return forContainers(o, func(c *corev1.Container) string {
		var refs []string
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs = append(refs, e.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				refs = append(refs, "envFrom secret "+ef.SecretRef.Name)
			}
		}
		if len(refs) > 0 {
			return "secrets passed as environment variables: " + strings.Join(refs, ", ") + " (mount them as files)"
		}
		return ""
	}, "env")
}
