package checks

import (
	"sort"

	"go.yaml.in/yaml/v3"
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
		return nil, &LoadError{File: name, Line: yamlErrLine(err), Err: "not valid YAML: " + err.Error()}
	}
	var raw map[string]any
	if err := doc.Decode(&raw); err != nil {
		return nil, &LoadError{File: name, Err: "not a compose file: " + err.Error()}
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
		cf.services = append(cf.services, &composeService{name: n, raw: m, node: nodeAt(svcNode, n), line: keyLine(svcNode, n, 1)})
	}
	return &Object{File: name, Line: 1, Kind: "ComposeFile", Name: name, compose: cf}, nil
}
