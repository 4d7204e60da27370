package falco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxEventFields bounds one decoded event: the agent fills about sixty.
const maxEventFields = 1024

// DecodeEvent reads one event as encoding/json wrote it (a line of a
// recorded stream, `bulwark watch --record`), giving each value the type
// its field has (JSON numbers become int64, ancestor lists []string), so
// a replayed event matches exactly as the live one did. Unknown fields
// and values of the wrong type are errors naming the field.
func DecodeEvent(b []byte) (Event, error) {
	raw, err := scanObject(b)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	if len(raw) > maxEventFields {
		return nil, fmt.Errorf("event: %d fields, more than %d", len(raw), maxEventFields)
	}
	e := make(Event, len(raw))
	for _, kv := range raw {
		k, v := kv.key, kv.val
		name, arg, hasArg := strings.Cut(k, "[")
		if hasArg && (!strings.HasSuffix(arg, "]") || len(arg) < 2) {
			return nil, fmt.Errorf("event: field %q: want NAME or NAME[ARG]", k)
		}
		info, ok := Fields[name]
		if !ok {
			return nil, fmt.Errorf("event: field %q is not one bulwark's sources fill", k)
		}
		if hasArg && !info.Arg {
			return nil, fmt.Errorf("event: field %q: %s takes no argument", k, name)
		}
		t := info.Type
		if !hasArg && info.NoArg {
			t = StringList // proc.aname without an index: every ancestor
		}
		val, err := typed(t, v)
		if err != nil {
			return nil, fmt.Errorf("event: field %q: %w", k, err)
		}
		e[k] = val
	}
	return e, nil
}

type keyVal struct {
	key string
	val any
}

// scanObject reads one flat JSON object whose values are strings,
// numbers (json.Number), booleans, null or lists of those: the shape of
// a recorded event. It is a fast path for the common case (about five
// times encoding/json's generic decoding); anything else, nested
// objects included, goes to encoding/json, so the two accept the same
// documents and give the same errors.
func scanObject(b []byte) ([]keyVal, error) {
	s := &objScanner{b: b}
	if out, ok := s.object(); ok {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("want a JSON object, got null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the object")
	}
	out := make([]keyVal, 0, len(m))
	for k, v := range m {
		out = append(out, keyVal{k, v})
	}
	return out, nil
}

type objScanner struct {
	b []byte
	i int
}

func (s *objScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *objScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object is the fast path: ok is false for anything it does not handle
// plainly (escapes, nested objects, errors), which the slow path then
// reads or reports.
func (s *objScanner) object() (out []keyVal, ok bool) {
	if !s.next('{') {
		return nil, false
	}
	out = make([]keyVal, 0, 64)
	if s.next('}') {
		return out, s.end()
	}
	for {
		k, ok := s.str()
		if !ok || !s.next(':') {
			return nil, false
		}
		v, ok := s.value(true)
		if !ok {
			return nil, false
		}
		// A repeated key is kept twice; DecodeEvent's map keeps the last,
		// as encoding/json does.
		out = append(out, keyVal{k, v})
		if s.next(',') {
			continue
		}
		if s.next('}') {
			return out, s.end()
		}
		return nil, false
	}
}

func (s *objScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string; one with escapes (encoding/json writes "<" as
// \u003c) is unquoted by encoding/json.
func (s *objScanner) str() (string, bool) {
	if !s.next('"') {
		return "", false
	}
	start, escaped := s.i, false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if escaped {
				var out string
				if json.Unmarshal(s.b[start-1:s.i], &out) != nil {
					return "", false
				}
				return out, true
			}
			if !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		case c == '\\':
			escaped = true
			s.i++ // the escaped byte cannot end the string
		case c < 0x20:
			return "", false
		}
		s.i++
	}
	return "", false
}

func (s *objScanner) value(listOK bool) (any, bool) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.str()
	case c == 't' && bytes.HasPrefix(s.b[s.i:], []byte("true")):
		s.i += 4
		return true, true
	case c == 'f' && bytes.HasPrefix(s.b[s.i:], []byte("false")):
		s.i += 5
		return false, true
	case c == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")):
		s.i += 4
		return nil, true
	case c == '-' || (c >= '0' && c <= '9'):
		// Integers only (the fields are int64); the rest goes slow.
		start := s.i
		if c == '-' {
			s.i++
		}
		digits := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		n := s.b[digits:s.i]
		if len(n) == 0 || (n[0] == '0' && len(n) > 1) || (s.i < len(s.b) && strings.IndexByte(".eE", s.b[s.i]) >= 0) {
			return nil, false
		}
		return json.Number(s.b[start:s.i]), true
	case c == '[' && listOK:
		s.i++
		l := []any{}
		if s.next(']') {
			return l, true
		}
		for {
			v, ok := s.value(false)
			if !ok {
				return nil, false
			}
			l = append(l, v)
			if s.next(',') {
				continue
			}
			if s.next(']') {
				return l, true
			}
			return nil, false
		}
	}
	return nil, false
}

func typed(t Type, v any) (any, error) {
	switch t {
	case Int:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want an integer, got %s", jsonKind(v))
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %s", n)
		}
		return i, nil
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", jsonKind(v))
		}
		return b, nil
	case StringList:
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %s", jsonKind(v))
		}
		out := make([]string, len(l))
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %s", i, jsonKind(x))
			}
			out[i] = s
		}
		return out, nil
	default:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", jsonKind(v))
		}
		return s, nil
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	default:
		return "an object"
	}
}
