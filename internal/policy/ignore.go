// Package policy turns findings into a verdict: exceptions from an ignore
// file (with reasons and expiry dates), OpenVEX statements, severity
// thresholds. Every suppression keeps its reason, so reports and the
// audit trail can show why a finding did not count.
package policy

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/match"
)

// Suppression says why a finding does not count.
type Suppression struct {
	// Kind is "ignore" (an ignore-file entry) or "vex" (an OpenVEX
	// statement).
	Kind string `json:"kind"`
	// Reason is the ignore entry's reason or the VEX justification and
	// impact statement.
	Reason string `json:"reason"`
	// Status is the VEX status (not_affected, fixed).
	Status  string `json:"status,omitempty"`
	Source  string `json:"source"`
	Expires string `json:"expires,omitempty"`
}

// IgnoreEntry is one exception of an ignore file.
type IgnoreEntry struct {
	ID string `json:"id"`
	// Package optionally narrows the entry: a package name
	// (namespace/name for npm, group:artifact for Maven) or a PURL
	// (version optional).
	Package string `json:"package,omitempty"`
	// Object optionally narrows a configuration-check exception: a glob
	// matched against the object ("Deployment shop/web", "Deployment
	// shop/*") or its file path.
	Object string `json:"object,omitempty"`
	Reason string `json:"reason"`
	// Expires is a date (YYYY-MM-DD); the entry stops applying the day
	// after.
	Expires string `json:"expires,omitempty"`

	expires time.Time
	purl    *packageurl.PackageURL
}

// IgnoreFile is a parsed ignore file.
type IgnoreFile struct {
	Path    string
	Entries []IgnoreEntry
	// Now is the clock expiry is judged by (default time.Now).
	Now func() time.Time
}

type ignoreDoc struct {
	Ignores []IgnoreEntry `json:"ignores"`
}

// LoadIgnoreFile reads and validates an ignore file: YAML (or JSON) with
// a list under "ignores". Unknown keys, entries without an id or a
// reason, and bad dates are errors naming the file and the entry.
func LoadIgnoreFile(path string) (*IgnoreFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ignore file: %w", err)
	}
	f, err := ParseIgnoreFile(b)
	if err != nil {
		return nil, fmt.Errorf("ignore file %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// ParseIgnoreFile parses ignore-file content.
func ParseIgnoreFile(b []byte) (*IgnoreFile, error) {
	var d ignoreDoc
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		return nil, err
	}
	if err := prepareEntries(d.Ignores, "ignores"); err != nil {
		return nil, err
	}
	return &IgnoreFile{Entries: d.Ignores}, nil
}

// prepareEntries validates exceptions (an id, a reason, a date, patterns)
// and parses their dates and package URLs, wherever they come from: an
// ignore file, a project's pull policy.
func prepareEntries(entries []IgnoreEntry, list string) error {
	for i := range entries {
		e := &entries[i]
		where := fmt.Sprintf("%s[%d]", list, i)
		if e.ID == "" {
			return fmt.Errorf("%s: no id", where)
		}
		if strings.TrimSpace(e.Reason) == "" {
			return fmt.Errorf("%s (%s): no reason; every exception must say why", where, e.ID)
		}
		if e.Expires != "" {
			t, err := time.Parse(time.DateOnly, e.Expires)
			if err != nil {
				return fmt.Errorf("%s (%s): expires %q is not a date (YYYY-MM-DD)", where, e.ID, e.Expires)
			}
			e.expires = t
		}
		if e.Object != "" {
			if _, err := path.Match(e.Object, ""); err != nil {
				return fmt.Errorf("%s (%s): object pattern %q: %w", where, e.ID, e.Object, err)
			}
		}
		if strings.HasPrefix(e.Package, "pkg:") {
			p, err := packageurl.FromString(e.Package)
			if err != nil {
				return fmt.Errorf("%s (%s): package %q: %w", where, e.ID, e.Package, err)
			}
			e.purl = &p
		}
	}
	return nil
}

// Expired reports whether the entry no longer applies at now.
func (e *IgnoreEntry) Expired(now time.Time) bool {
	return !e.expires.IsZero() && now.After(e.expires.Add(24*time.Hour))
}

func (e *IgnoreEntry) covers(f *match.Finding) bool {
	if !idIn(e.ID, f) {
		return false
	}
	switch {
	case e.Package == "":
		return true
	case e.purl != nil:
		return purlCovers(e.purl, f.Package.PURL)
	}
	return e.Package == f.Package.Name || e.Package == f.Name ||
		e.Package == f.Package.Namespace+"/"+f.Package.Name || e.Package == f.Package.Namespace+":"+f.Package.Name
}

func idIn(id string, f *match.Finding) bool {
	if strings.EqualFold(id, f.ID) {
		return true
	}
	for _, a := range f.Aliases {
		if strings.EqualFold(id, a) {
			return true
		}
	}
	return false
}

// CheckException reports whether an unexpired entry excepts a
// configuration check for an object (matched by its reference or its
// file); it lets the check engine use the same ignore file as scans.
func (f *IgnoreFile) CheckException(checkID, object, file string) (reason, source, expires string, ok bool) {
	for i := range f.Entries {
		e := &f.Entries[i]
		if !strings.EqualFold(e.ID, checkID) || e.Expired(f.now()) {
			continue
		}
		if e.Object != "" {
			m1, _ := path.Match(e.Object, object)
			m2, _ := path.Match(e.Object, file)
			if !m1 && !m2 {
				continue
			}
		}
		return e.Reason, f.Path, e.Expires, true
	}
	return "", "", "", false
}

func (f *IgnoreFile) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// purlCovers reports whether pattern names the package of target: same
// type, namespace and name, and the same version when pattern has one.
// Qualifiers are not compared.
func purlCovers(pattern *packageurl.PackageURL, target string) bool {
	t, err := packageurl.FromString(target)
	if err != nil {
		return false
	}
	return pattern.Type == t.Type && pattern.Namespace == t.Namespace && pattern.Name == t.Name &&
		(pattern.Version == "" || pattern.Version == t.Version)
}
