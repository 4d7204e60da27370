package sla

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// WriteJSON writes the report as indented JSON (the same inputs, the
// same bytes). The clocks are written by hand, in exactly the bytes
// encoding/json would write (TestJSONMatchesEncodingJSON holds them
// equal): reflection and re-indenting cost two seconds of a report of
// 183,000 clocks, and a report must take less than one.
func (r Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	head, err := json.MarshalIndent(struct {
		At      time.Time `json:"at"`
		Summary Summary   `json:"summary"`
	}{r.At, r.Summary}, "", "  ")
	if err != nil {
		return err
	}
	// The header's closing "\n}" is replaced by the clocks.
	bw.Write(head[:len(head)-2])
	if len(r.Clocks) == 0 {
		bw.WriteString(",\n  \"clocks\": []\n}\n")
		return bw.Flush()
	}
	bw.WriteString(",\n  \"clocks\": [")
	b := make([]byte, 0, 1024)
	for i := range r.Clocks {
		b = b[:0]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendClock(b, &r.Clocks[i])
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	bw.WriteString("\n  ]\n}\n")
	return bw.Flush()
}

// appendClock is one clock as json.MarshalIndent(prefix "    ", indent
// "  ") would write it inside the clocks array.
func appendClock(b []byte, c *Clock) []byte {
	b = append(b, "\n    {"...)
	field := func(name string) {
		b = append(b, "\n      \""...)
		b = append(b, name...)
		b = append(b, "\": "...)
	}
	str := func(name, v string) {
		field(name)
		b = appendString(b, v)
		b = append(b, ',')
	}
	when := func(name string, t time.Time) {
		if t.IsZero() {
			return
		}
		field(name)
		j, _ := t.MarshalJSON()
		b = append(b, j...)
		b = append(b, ',')
	}
	list := func(name string, l []string, omitEmpty bool) {
		if omitEmpty && len(l) == 0 {
			return
		}
		field(name)
		switch {
		case l == nil:
			b = append(b, "null"...)
		case len(l) == 0:
			b = append(b, "[]"...)
		default:
			b = append(b, '[')
			for i, s := range l {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, "\n        "...)
				b = appendString(b, s)
			}
			b = append(b, "\n      ]"...)
		}
		b = append(b, ',')
	}
	str("repository", c.Repo)
	str("project", c.Project)
	str("vulnerability", c.Advisory)
	str("package", c.Package)
	str("severity", c.Severity.String())
	if c.Fixed != "" {
		str("fixedVersion", c.Fixed)
	}
	str("state", string(c.State))
	when("start", c.Start)
	when("due", c.Due)
	when("stopped", c.Stopped)
	list("digests", c.Digests, false)
	list("tags", c.Tags, true)
	list("workloads", c.Workloads, true)
	b = b[:len(b)-1] // the last comma
	return append(b, "\n    }"...)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does: HTML-safe (<, >, & as
// \u escapes), invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = strconv.AppendInt(b, int64(r&0xf), 16)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
