package k8s

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// errSlowPath asks for the reference conversion (sigs.k8s.io/yaml): the
// node uses something the fast path does not reproduce exactly.
var errSlowPath = errors.New("not handled by the fast YAML 1.1 path")

// valueLikeKubectl converts a parsed document to what kubectl's
// YAMLToJSON followed by the API server's decoder would give (YAML 1.1
// resolution of plain scalars, int64 integers, integral floats as
// integers, last duplicate key wins, merge keys), without parsing the
// bytes a second time. Anything unusual returns errSlowPath, and the
// caller takes the reference path; a test holds both equal on the corpus.
func valueLikeKubectl(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, errSlowPath
		}
		return valueLikeKubectl(n.Content[0])
	case yaml.AliasNode:
		return valueLikeKubectl(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := valueLikeKubectl(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Style == 0 && k.Value == "<<" {
				merges = append(merges, v)
				continue
			}
			key, err := keyLikeKubectl(k)
			if err != nil {
				return nil, err
			}
			val, err := valueLikeKubectl(v)
			if err != nil {
				return nil, err
			}
			out[key] = val
		}
		for _, m := range merges {
			if err := mergeInto(out, m); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarLikeKubectl(n)
	}
	return nil, errSlowPath
}

// mergeInto applies a YAML merge key: the merged mappings' keys that the
// mapping itself does not set.
func mergeInto(out map[string]any, m *yaml.Node) error {
	if m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	var sources []*yaml.Node
	switch m.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{m}
	case yaml.SequenceNode:
		for _, c := range m.Content {
			if c.Kind == yaml.AliasNode {
				c = c.Alias
			}
			sources = append(sources, c)
		}
	default:
		return errSlowPath
	}
	for _, src := range sources {
		v, err := valueLikeKubectl(src)
		if err != nil {
			return err
		}
		mm, ok := v.(map[string]any)
		if !ok {
			return errSlowPath
		}
		for k, x := range mm {
			if _, set := out[k]; !set {
				out[k] = x
			}
		}
	}
	return nil
}

func keyLikeKubectl(k *yaml.Node) (string, error) {
	if k.Kind != yaml.ScalarNode {
		return "", errSlowPath
	}
	v, err := scalarLikeKubectl(k)
	if err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return "", errSlowPath // null and float keys: rare, left to the reference
}

var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "true": true, "True": true, "TRUE": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "false": false, "False": false, "FALSE": false, "off": false, "Off": false, "OFF": false,
}

func scalarLikeKubectl(n *yaml.Node) (any, error) {
	if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!str" {
		return nil, errSlowPath
	}
	if n.Style != 0 {
		return n.Value, nil // quoted, literal, folded, or tagged !!str
	}
	in := n.Value
	if in == "" || in == "~" || in == "null" || in == "Null" || in == "NULL" {
		return nil, nil
	}
	if b, ok := yaml11Bools[in]; ok {
		return b, nil
	}
	switch c := in[0]; {
	case c == '.':
		if f, err := strconv.ParseFloat(in, 64); err == nil {
			return number(f)
		}
		if strings.EqualFold(in, ".nan") || strings.EqualFold(in, ".inf") {
			return nil, errSlowPath
		}
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		if looksLikeTimestamp(in) {
			return in, nil // decoded into interface{}, a timestamp stays a string
		}
		plain := strings.ReplaceAll(in, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return i, nil
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return nil, errSlowPath
		}
		if yamlFloat(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return number(f)
			}
		}
		if strings.HasPrefix(plain, "0b") || strings.HasPrefix(plain, "-0b") || strings.HasPrefix(plain, "+") && strings.Contains(plain, "inf") {
			return nil, errSlowPath
		}
	}
	return in, nil
}

// number is a float as JSON and the API server's decoder give it back:
// integral values become integers.
func number(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errSlowPath
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), nil
	}
	return f, nil
}

func yamlFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case (c == 'e' || c == 'E') && digits > 0:
			return i+1 < len(s) && strings.Trim(s[i+1:], "+-0123456789") == "" && strings.ContainsAny(s[i+1:], "0123456789")
		default:
			return false
		}
	}
	return digits > 0
}

// looksLikeTimestamp is YAML 1.1's date and date-time forms, which
// go-yaml v2 keeps as strings when decoding into interface{}.
func looksLikeTimestamp(s string) bool {
	if len(s) < 8 || s[0] < '0' || s[0] > '9' {
		return false
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i == 4 && i < len(s) && s[i] == '-'
}
