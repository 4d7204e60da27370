// Package admission is bulwark's Kubernetes admission webhook: it admits
// a workload only when its pod passes the hardening checks (the engine,
// IDs and bulwark.dev/ignore annotations of `bulwark check`) and every
// image passes the one image verdict (internal/verdict) the registry
// enforces, so a cluster runs nothing the registry would refuse. The
// mutating side pins every image to the digest that was judged.
package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/severity"
)

// Modes a namespace can be in.
const (
	// Enforce denies what the policy refuses.
	Enforce = "enforce"
	// Warn admits it with the reasons as AdmissionReview warnings
	// (kubectl prints them).
	Warn = "warn"
	// Audit admits it silently and records what would have been denied.
	Audit = "audit"
)

// Config is the admission section of a policy file. The image rules are
// the file's rules (the same model as the registry's pull policy); this
// says how the webhook applies them.
type Config struct {
	// Mode is the mode of namespaces Namespaces does not name (default
	// enforce).
	Mode string `json:"mode,omitempty"`
	// Namespaces maps namespace globs to modes; the first match in the
	// order written wins (JSON objects are unordered, so it is a list).
	Namespaces []NamespaceMode `json:"namespaces,omitempty"`
	// CheckSeverity is the lowest severity of a failing hardening check
	// that refuses a workload (default high); "none" runs no checks.
	CheckSeverity string `json:"checkSeverity,omitempty"`
	// Exemptions lift the policy for a namespace, an image or a check.
	Exemptions []Exemption `json:"exemptions,omitempty"`
	// Mutate says what the mutating webhook changes.
	Mutate Mutate `json:"mutate,omitempty"`
	// Exec lists namespaces where kubectl exec and attach are denied or
	// recorded.
	Exec Exec `json:"exec,omitempty"`
	// WaitForScan makes the webhook wait, up to its deadline, for the
	// scan of an image that is queued or running (a tag pushed seconds
	// before the rollout) instead of refusing it as unscanned at once.
	WaitForScan bool `json:"waitForScan,omitempty"`
	// TimeoutSeconds is the webhook timeout the API server is given
	// (default 10, at most 30); decisions stop a second before it.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`

	checkLevel severity.Level
	noChecks   bool
}

// NamespaceMode is one namespace glob and its mode.
type NamespaceMode struct {
	Namespace string `json:"namespace"`
	Mode      string `json:"mode"`
}

// Exemption lifts the policy where it matches. With only Namespace it
// exempts the namespace; with Image (a glob on registry/path) it skips
// that image's verdict; with Check it skips that hardening check. They
// combine: {namespace: ci, check: BW-K8S-002} skips one check in one
// namespace. Reason is required; an expired exemption no longer applies
// and is reported as a warning.
type Exemption struct {
	Namespace string `json:"namespace,omitempty"`
	Image     string `json:"image,omitempty"`
	Check     string `json:"check,omitempty"`
	Reason    string `json:"reason"`
	Expires   string `json:"expires,omitempty"`

	expires time.Time
}

// Mutate configures the mutating webhook.
type Mutate struct {
	// Digests rewrites every image to repo:tag@digest, the digest that
	// was judged (default true).
	Digests *bool `json:"digests,omitempty"`
	// Defaults are namespace globs whose pods get secure defaults where
	// they set nothing: seccompProfile RuntimeDefault, no privilege
	// escalation, no service account token.
	Defaults []string `json:"defaults,omitempty"`
}

// Exec configures pods/exec and pods/attach.
type Exec struct {
	Deny   []string `json:"deny,omitempty"`
	Record []string `json:"record,omitempty"`
}

// ParseConfig reads the admission section (JSON) strictly: an unknown
// key is an error, so a misspelt mode never silently enforces nothing.
func ParseConfig(b []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(b)) > 0 && string(bytes.TrimSpace(b)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("admission: %w", err)
		}
	}
	if c.Mode == "" {
		c.Mode = Enforce
	}
	if !validMode(c.Mode) {
		return nil, fmt.Errorf("admission: mode %q: want enforce, warn or audit", c.Mode)
	}
	for i, n := range c.Namespaces {
		if _, err := path.Match(n.Namespace, ""); err != nil || n.Namespace == "" {
			return nil, fmt.Errorf("admission: namespaces[%d]: %q is not a namespace glob", i, n.Namespace)
		}
		if !validMode(n.Mode) {
			return nil, fmt.Errorf("admission: namespaces[%d] (%s): mode %q: want enforce, warn or audit", i, n.Namespace, n.Mode)
		}
	}
	switch c.CheckSeverity {
	case "":
		c.checkLevel = severity.High
	case "none":
		c.noChecks = true
	default:
		l, err := severity.Parse(c.CheckSeverity)
		if err != nil {
			return nil, fmt.Errorf("admission: checkSeverity: %w", err)
		}
		c.checkLevel = l
	}
	for i := range c.Exemptions {
		e := &c.Exemptions[i]
		where := fmt.Sprintf("admission: exemptions[%d]", i)
		if e.Namespace == "" && e.Image == "" && e.Check == "" {
			return nil, fmt.Errorf("%s: names no namespace, image or check", where)
		}
		if e.Reason == "" {
			return nil, fmt.Errorf("%s: reason is required (auditors read it)", where)
		}
		for _, g := range []string{e.Namespace, e.Image} {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("%s: %q is not a glob", where, g)
			}
		}
		if e.Expires != "" {
			t, err := time.Parse(time.DateOnly, e.Expires)
			if err != nil {
				if t, err = time.Parse(time.RFC3339, e.Expires); err != nil {
					return nil, fmt.Errorf("%s: expires %q: want YYYY-MM-DD or RFC 3339", where, e.Expires)
				}
			} else {
				t = t.Add(24 * time.Hour) // through the whole day
			}
			e.expires = t
		}
	}
	for _, lists := range [][]string{c.Mutate.Defaults, c.Exec.Deny, c.Exec.Record} {
		for _, g := range lists {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return nil, fmt.Errorf("admission: %q is not a namespace glob", g)
			}
		}
	}
	switch {
	case c.TimeoutSeconds == 0:
		c.TimeoutSeconds = 10
	case c.TimeoutSeconds < 2 || c.TimeoutSeconds > 30:
		return nil, fmt.Errorf("admission: timeoutSeconds %d: the API server accepts 1 to 30, and a decision needs at least 2", c.TimeoutSeconds)
	}
	return c, nil
}

func validMode(m string) bool { return m == Enforce || m == Warn || m == Audit }

// ModeOf is the mode of a namespace.
func (c *Config) ModeOf(ns string) string {
	for _, n := range c.Namespaces {
		if glob(n.Namespace, ns) {
			return n.Mode
		}
	}
	return c.Mode
}

// Deadline is how long a decision may take: a second below the webhook
// timeout, so the API server gets an answer rather than a timeout.
func (c *Config) Deadline() time.Duration {
	return time.Duration(c.TimeoutSeconds-1) * time.Second
}

// DigestsOn says whether the mutating webhook pins images.
func (c *Config) DigestsOn() bool { return c.Mutate.Digests == nil || *c.Mutate.Digests }

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if glob(g, s) {
			return true
		}
	}
	return false
}

// exemptNamespace, exemptImage and exemptCheck return the live
// exemption for a namespace, an image of it (repository, registry/path)
// or a check on a pod running images; expired lists those that would
// have matched but expired.
func (c *Config) exemptNamespace(now time.Time, ns string) (*Exemption, []*Exemption) {
	return c.find(now, func(x *Exemption) bool {
		return x.Namespace != "" && x.Image == "" && x.Check == "" && glob(x.Namespace, ns)
	})
}

func (c *Config) exemptImage(now time.Time, ns, repo string) (*Exemption, []*Exemption) {
	return c.find(now, func(x *Exemption) bool {
		return x.Image != "" && x.Check == "" && glob(x.Image, repo) && (x.Namespace == "" || glob(x.Namespace, ns))
	})
}

func (c *Config) exemptCheck(now time.Time, ns string, repos []string, check string) (*Exemption, []*Exemption) {
	return c.find(now, func(x *Exemption) bool {
		if x.Check != check || (x.Namespace != "" && !glob(x.Namespace, ns)) {
			return false
		}
		if x.Image == "" {
			return true
		}
		for _, r := range repos {
			if glob(x.Image, r) {
				return true
			}
		}
		return false
	})
}

func (c *Config) find(now time.Time, match func(*Exemption) bool) (*Exemption, []*Exemption) {
	var expired []*Exemption
	for i := range c.Exemptions {
		x := &c.Exemptions[i]
		if !match(x) {
			continue
		}
		if !x.expires.IsZero() && !now.Before(x.expires) {
			expired = append(expired, x)
			continue
		}
		return x, expired
	}
	return nil, expired
}

func glob(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func (x *Exemption) String() string {
	var what []string
	if x.Namespace != "" {
		what = append(what, "namespace "+x.Namespace)
	}
	if x.Image != "" {
		what = append(what, "image "+x.Image)
	}
	if x.Check != "" {
		what = append(what, "check "+x.Check)
	}
	s := "exemption for " + strings.Join(what, ", ") + " (" + x.Reason + ")"
	if x.Expires != "" {
		s += " expiring " + x.Expires
	}
	return s
}
