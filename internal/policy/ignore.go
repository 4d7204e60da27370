// Package policy turns findings into a verdict: exceptions from an ignore
// file (with reasons and expiry dates), OpenVEX statements, severity
// thresholds. Every suppression keeps its reason, so reports and the
// audit trail can show why a finding did not count.
package policy

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
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

	mu   sync.Mutex
	used map[int]bool
}

func (f *IgnoreFile) markUsed(i int) {
	f.mu.Lock()
	if f.used == nil {
		f.used = map[int]bool{}
	}
	f.used[i] = true
	f.mu.Unlock()
}

// Unused lists the unexpired entries that covered nothing so far: most
// often a typo in an id or object pattern, which leaves the finding it
// meant to except failing, or an exception that outlived its reason.
func (f *IgnoreFile) Unused() []IgnoreEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []IgnoreEntry
	for i, e := range f.Entries {
		if !f.used[i] && !e.Expired(f.now()) {
			out = append(out, e)
		}
	}
	return out
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

// ParseIgnoreFile parses ignore-file content: bulwark's YAML (ignores:),
// Trivy's .trivyignore.yaml (vulnerabilities:, misconfigurations:) or a
// plain .trivyignore (one ID per line, # comments, optional exp:DATE).
func ParseIgnoreFile(b []byte) (*IgnoreFile, error) {
	if entries, ok := parseTrivyIgnore(b); ok {
		if err := prepareEntries(entries, ".trivyignore"); err != nil {
			return nil, err
		}
		return &IgnoreFile{Entries: entries}, nil
	}
	var probe map[string]any
	if yaml.Unmarshal(b, &probe) == nil && (probe["vulnerabilities"] != nil || probe["misconfigurations"] != nil) && probe["ignores"] == nil {
		return parseTrivyIgnoreYAML(b)
	}
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
		f.markUsed(i)
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

var trivyIgnoreID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._:-]*[0-9A-Za-z]$`)

// parseTrivyIgnore reads a plain .trivyignore: every line that is not
// blank or a comment is an ID, optionally followed by exp:YYYY-MM-DD. The
// comment lines just above an ID become its reason (bulwark wants one).
// It reports false for content that is not in that format.
func parseTrivyIgnore(b []byte) ([]IgnoreEntry, bool) {
	var out []IgnoreEntry
	var comment []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			comment = nil
			continue
		case strings.HasPrefix(line, "#"):
			comment = append(comment, strings.TrimSpace(strings.TrimLeft(line, "#")))
			continue
		}
		f := strings.Fields(line)
		if !trivyIgnoreID.MatchString(f[0]) || strings.HasSuffix(f[0], ":") {
			return nil, false
		}
		e := IgnoreEntry{ID: f[0], Reason: strings.Join(comment, " ")}
		for _, x := range f[1:] {
			if d, ok := strings.CutPrefix(x, "exp:"); ok {
				e.Expires = d
			} else if !strings.HasPrefix(x, "#") {
				return nil, false
			}
		}
		if strings.TrimSpace(e.Reason) == "" {
			e.Reason = "listed in .trivyignore"
		}
		out = append(out, e)
		comment = nil
	}
	return out, len(out) > 0
}

// parseTrivyIgnoreYAML reads Trivy's .trivyignore.yaml: entries with an
// id, optional purls (each becomes an entry narrowed to that package),
// statement (the reason) and expired_at.
func parseTrivyIgnoreYAML(b []byte) (*IgnoreFile, error) {
	type entry struct {
		ID        string   `json:"id"`
		Paths     []string `json:"paths,omitempty"`
		PURLs     []string `json:"purls,omitempty"`
		Statement string   `json:"statement,omitempty"`
		ExpiredAt string   `json:"expired_at,omitempty"`
	}
	var d struct {
		Vulnerabilities   []entry `json:"vulnerabilities"`
		Misconfigurations []entry `json:"misconfigurations"`
		Secrets           []entry `json:"secrets"`
		Licenses          []entry `json:"licenses"`
	}
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		return nil, err
	}
	var out []IgnoreEntry
	for _, list := range [][]entry{d.Vulnerabilities, d.Misconfigurations, d.Secrets, d.Licenses} {
		for _, x := range list {
			reason := x.Statement
			if reason == "" {
				reason = "listed in .trivyignore.yaml"
			}
			exp := x.ExpiredAt
			if len(exp) > 10 {
				exp = exp[:10] // a timestamp: the date is what expiry uses
			}
			base := IgnoreEntry{ID: x.ID, Reason: reason, Expires: exp}
			if len(x.PURLs) == 0 && len(x.Paths) == 0 {
				out = append(out, base)
			}
			for _, p := range x.PURLs {
				e := base
				e.Package = p
				out = append(out, e)
			}
			for _, p := range x.Paths {
				e := base
				e.Object = p
				out = append(out, e)
			}
		}
	}
	if err := prepareEntries(out, ".trivyignore.yaml"); err != nil {
		return nil, err
	}
	return &IgnoreFile{Entries: out}, nil
}
