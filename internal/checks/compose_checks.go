package checks

import (
	"fmt"
	"strings"
)

func isCompose(o *Object) bool { return o.compose != nil }

// forServices runs fn on each service, failing at the line of key (or the
// service) with the message fn returns.
func forServices(o *Object, key string, fn func(s *composeService) string) []Failure {
	var out []Failure
	for _, s := range o.compose.services {
		if msg := fn(s); msg != "" {
			out = append(out, Failure{Line: keyLine(s.node, key, s.line), Message: fmt.Sprintf("service %q: %s", s.name, msg)})
		}
	}
	return out
}

// truthy reads a boolean normalized by normalizeService.
func truthy(v any) bool {
	b, _ := v.(bool)
	return b
}

func checkComposePrivileged(_ *Env, o *Object) []Failure {
	return forServices(o, "privileged", func(s *composeService) string {
		if truthy(s.raw["privileged"]) {
			return "runs privileged"
		}
		return ""
	})
}

func checkComposeReadOnly(_ *Env, o *Object) []Failure {
	return forServices(o, "read_only", func(s *composeService) string {
		if !truthy(s.raw["read_only"]) {
			return "root filesystem is writable (read_only is not true)"
		}
		return ""
	})
}

func checkComposeUser(_ *Env, o *Object) []Failure {
	return forServices(o, "user", func(s *composeService) string {
		u := fmt.Sprint(s.raw["user"])
		if s.raw["user"] == nil {
			return "sets no user: the image's user (often root) applies"
		}
		if isRootUser(u) {
			return "runs as " + u
		}
		return ""
	})
}

func checkComposeCapAdd(_ *Env, o *Object) []Failure {
	return forServices(o, "cap_add", func(s *composeService) string {
		caps, _ := s.raw["cap_add"].([]any)
		var bad []string
		for _, c := range caps {
			if isDangerousCap(fmt.Sprint(c)) {
				bad = append(bad, fmt.Sprint(c))
			}
		}
		if len(bad) > 0 {
			return "adds dangerous capabilities " + strings.Join(bad, ", ")
		}
		return ""
	})
}

// volumeSource returns the host side of a compose volume entry.
func volumeSource(v any) string {
	switch x := v.(type) {
	case string:
		src, _, _ := strings.Cut(x, ":")
		return src
	case map[string]any:
		s, _ := x["source"].(string)
		return s
	}
	return ""
}

func checkComposeDockerSocket(_ *Env, o *Object) []Failure {
	return forServices(o, "volumes", func(s *composeService) string {
		vols, _ := s.raw["volumes"].([]any)
		for _, v := range vols {
			src := volumeSource(v)
			if strings.HasSuffix(src, "docker.sock") || strings.HasSuffix(src, "containerd.sock") {
				return "mounts the container runtime socket " + src + ": root on the host"
			}
		}
		return ""
	})
}

func checkComposeHostNetwork(_ *Env, o *Object) []Failure {
	return forServices(o, "network_mode", func(s *composeService) string {
		if s.raw["network_mode"] == "host" {
			return "uses the host's network (network_mode: host)"
		}
		for _, k := range []string{"pid", "ipc"} {
			if s.raw[k] == "host" {
				return "shares the host's " + k + " namespace"
			}
		}
		return ""
	})
}
