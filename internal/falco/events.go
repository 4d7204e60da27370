package falco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// maxEventFields bounds one decoded event: the agent fills about sixty.
const maxEventFields = 1024

// DecodeEvent reads one event as encoding/json wrote it (a line of a
// recorded stream, `bulwark watch --record`), giving each value the type
// its field has (JSON numbers become int64, ancestor lists []string), so
// a replayed event matches exactly as the live one did. Unknown fields
// and values of the wrong type are errors naming the field.
func DecodeEvent(b []byte) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("event: want a JSON object, got null")
	}
	if dec.More() {
		return nil, fmt.Errorf("event: trailing data after the object")
	}
	if len(raw) > maxEventFields {
		return nil, fmt.Errorf("event: %d fields, more than %d", len(raw), maxEventFields)
	}
	e := make(Event, len(raw))
	for k, v := range raw {
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
