// Package severity scores CVSS vectors (v3.0, v3.1, v4.0) and orders the
// severity levels every gate and report shares.
package severity

import (
	"fmt"
	"strings"

	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"
)

// Level is a qualitative severity, ordered: Unknown < Low < ... < Critical.
type Level int

// The severity levels.
const (
	Unknown Level = iota
	Low
	Medium
	High
	Critical
)

var names = [...]string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(names) {
		return "UNKNOWN"
	}
	return names[l]
}

// MarshalText renders the level as its name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses a level name.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	*l = v
	return err
}

// Parse reads a level name, case-insensitively; "moderate" and
// "important" (GitHub, Red Hat) and "negligible" (Debian, Ubuntu) map to
// their CVSS equivalents.
func Parse(s string) (Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "UNKNOWN", "":
		return Unknown, nil
	case "LOW", "NEGLIGIBLE", "UNIMPORTANT":
		return Low, nil
	case "MEDIUM", "MODERATE":
		return Medium, nil
	case "HIGH", "IMPORTANT":
		return High, nil
	case "CRITICAL":
		return Critical, nil
	}
	return Unknown, fmt.Errorf("unknown severity %q (want one of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)", s)
}

// FromScore maps a CVSS base score to its qualitative rating (the same
// bands in CVSS v3 and v4).
func FromScore(score float64) Level {
	switch {
	case score >= 9.0:
		return Critical
	case score >= 7.0:
		return High
	case score >= 4.0:
		return Medium
	case score > 0:
		return Low
	}
	return Unknown
}

// Score parses a CVSS vector and returns its base score and version.
func Score(vector string) (score float64, version string, err error) {
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := cvss31.ParseVector(vector)
		if err != nil {
			return 0, "", fmt.Errorf("CVSS vector %q: %w", vector, err)
		}
		return v.BaseScore(), "3.1", nil
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := cvss30.ParseVector(vector)
		if err != nil {
			return 0, "", fmt.Errorf("CVSS vector %q: %w", vector, err)
		}
		return v.BaseScore(), "3.0", nil
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return 0, "", fmt.Errorf("CVSS vector %q: %w", vector, err)
		}
		return v.Score(), "4.0", nil
	}
	return 0, "", fmt.Errorf("CVSS vector %q: unsupported version (want CVSS:3.0, 3.1 or 4.0)", vector)
}
