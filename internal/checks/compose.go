package checks

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/k8s"
)

// composeFile is a compose file's services, read as YAML (variables are
// not interpolated: the checks look at what is written).
type composeFile struct {
	services []*composeService
}

type composeService struct {
	name string
	line int
	raw  map[string]any
	node *yaml.Node
}

func parseCompose(name string, b []byte) (*Object, *LoadError) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &LoadError{File: name, Line: k8s.YAMLErrLine(err), Err: k8s.YAMLProblem(b, err)}
	}
	var raw map[string]any
	if err := doc.Decode(&raw); err != nil {
		return nil, &LoadError{File: name, Line: k8s.YAMLErrLine(err), Err: "not a compose file: " + k8s.YAMLProblem(b, err)}
	}
	svcs, ok := raw["services"].(map[string]any)
	if !ok {
		return nil, &LoadError{File: name, Err: "no services: not a compose file"}
	}
	cf := &composeFile{}
	svcNode := nodeAt(&doc, "services")
	names := make([]string, 0, len(svcs))
	for n := range svcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, _ := svcs[n].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if err := normalizeService(m); err != nil {
			return nil, &LoadError{File: name, Line: keyLine(svcNode, n, 1), Err: fmt.Sprintf("service %q: %v", n, err)}
		}
		cf.services = append(cf.services, &composeService{name: n, raw: m, node: nodeAt(svcNode, n), line: keyLine(svcNode, n, 1)})
	}
	return &Object{File: name, Line: 1, Kind: "ComposeFile", Name: name, compose: cf}, nil
}

// composeBools are the service keys compose reads as booleans; it accepts
// YAML 1.1 spellings as strings (privileged: yes is true).
var composeBools = []string{"privileged", "read_only", "init", "tty", "stdin_open", "oom_kill_disable"}

// composeLists are the service keys compose accepts as a single string
// where a list is meant (cap_add: SYS_ADMIN is [SYS_ADMIN]).
var composeLists = []string{"cap_add", "cap_drop", "security_opt", "devices", "volumes", "ports", "expose", "dns", "dns_search", "tmpfs", "env_file", "extra_hosts", "group_add"}

// normalizeService rewrites a service the way docker compose config
// normalizes it, so the checks judge what compose would run.
func normalizeService(m map[string]any) error {
	for _, k := range composeBools {
		v, ok := m[k]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case bool, nil:
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "y", "yes", "true", "on":
				m[k] = true
			case "n", "no", "false", "off", "":
				m[k] = false
			default:
				return fmt.Errorf("%s: %q is not a boolean, so compose refuses the file", k, x)
			}
		default:
			return fmt.Errorf("%s: %v is not a boolean, so compose refuses the file", k, v)
		}
	}
	for _, k := range composeLists {
		switch x := m[k].(type) {
		case string, int:
			m[k] = []any{x}
		}
	}
	return nil
}
