package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field caps: a record says who did what to what, briefly. Anything
// longer was made up by whoever sent it (a 700,000-byte "user name"), and
// the trail must not grow with what a stranger types.
const (
	maxActor   = 256
	maxAction  = 64
	maxObject  = 1024
	maxOutcome = 16
	maxDetail  = 8 << 10
	maxString  = 1024 // one string inside the detail
)

// Clean makes a field safe to store, hash, print and export: invalid
// UTF-8 becomes U+FFFD, control characters (line breaks, ESC) become
// visible \xNN or \uNNNN escapes, and the result is cut at max bytes with
// a note of how much was cut. What is stored is exactly what is hashed.
func Clean(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) && !hasControl(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	e := b.String()
	if len(e) <= max {
		return e
	}
	keep := max - 32 // room for the note
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(e[keep]) {
		keep--
	}
	return fmt.Sprintf("%s…(%d bytes cut)", e[:keep], len(e)-keep)
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

// cleanDetail cleans every string of a detail map (keys too) and caps its
// JSON at maxDetail: past that, the detail is replaced by a note.
func cleanDetail(d map[string]any) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	clean := cleanValue(d)
	b, err := json.Marshal(clean)
	if err != nil {
		return "", fmt.Errorf("audit detail: %w", err)
	}
	if len(b) > maxDetail {
		b, _ = json.Marshal(map[string]any{"truncated": fmt.Sprintf("the detail was %d bytes, over the %d byte limit", len(b), maxDetail)})
	}
	return string(b), nil
}

func cleanValue(v any) any {
	switch x := v.(type) {
	case string:
		return Clean(x, maxString)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[Clean(k, 64)] = cleanValue(val)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = Clean(s, maxString)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = cleanValue(val)
		}
		return out
	case json.RawMessage:
		if json.Valid(x) && utf8.Valid(x) {
			return x
		}
		return Clean(string(x), maxString)
	}
	return v
}
