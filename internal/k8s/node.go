package k8s

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// docRoot steps into a document node.
func docRoot(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// NodeAt follows mapping keys through a YAML node tree (nil when a key is
// missing).
func NodeAt(n *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		n = docRoot(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// LineAt is the line of the key path's value, or def.
func LineAt(n *yaml.Node, def int, path ...string) int {
	if m := NodeAt(n, path...); m != nil && m.Line > 0 {
		return m.Line
	}
	return def
}

// ItemLine is the line of a sequence's i-th item, or def.
func ItemLine(seq *yaml.Node, i, def int) int {
	if seq == nil || seq.Kind != yaml.SequenceNode || i >= len(seq.Content) {
		return def
	}
	return seq.Content[i].Line
}

// KeyLine is the line of a mapping key, or def.
func KeyLine(m *yaml.Node, key string, def int) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return def
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return def
}

// Dig follows keys through decoded maps (nil when one is missing).
func Dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// StringMap reads a labels-like map, printing non-string values as
// kubectl would show them.
func StringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		if s, ok := x.(string); ok {
			out[k] = s
		} else if x != nil {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}
