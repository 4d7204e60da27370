package severity

import (
	"fmt"
	"strings"
)

// ParseSelection reads a --severity flag, the same in every command: a
// comma-separated list of levels to report, as Trivy reads it
// ("CRITICAL,HIGH"), or a level followed by "+" for that level and above
// ("HIGH+"). The empty string selects every level (nil).
func ParseSelection(s string) ([]Level, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.HasSuffix(s, "+") && !strings.Contains(s, ",") {
		min, err := Parse(strings.TrimSuffix(s, "+"))
		if err != nil {
			return nil, err
		}
		return AtOrAbove(min), nil
	}
	var out []Level
	seen := map[Level]bool{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			return nil, fmt.Errorf("%q: empty entry in the list", s)
		}
		l, err := Parse(part)
		if err != nil {
			return nil, err
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out, nil
}

// AtOrAbove lists the levels from min up (UNKNOWN only when min is
// UNKNOWN).
func AtOrAbove(min Level) []Level {
	var out []Level
	for l := Critical; l >= min; l-- {
		out = append(out, l)
	}
	return out
}

// Selected says whether a level is in a selection (nil selects all).
func Selected(sel []Level, l Level) bool {
	if sel == nil {
		return true
	}
	for _, s := range sel {
		if s == l {
			return true
		}
	}
	return false
}
