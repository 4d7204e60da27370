package falco

import (
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Event is one kernel event with the fields its source filled, keyed by
// Key (a field with its argument: "proc.aname[2]", "evt.arg[flags]").
// Values are string, int64, bool or []string (every ancestor, for
// proc.aname without an index). A field an event lacks makes every
// comparison on it false, as in Falco.
type Event map[string]any

// Key is how Event keys a field.
func Key(name, arg string) string {
	if arg == "" {
		return name
	}
	return name + "[" + arg + "]"
}

func (e Event) get(f Field) (any, bool) {
	v, ok := e[Key(f.Name, f.Arg)]
	if !ok || f.Transform == "" {
		return v, ok
	}
	s, isStr := v.(string)
	if !isStr {
		return v, ok
	}
	switch f.Transform {
	case "tolower":
		s = strings.ToLower(s)
	case "toupper":
		s = strings.ToUpper(s)
	case "basename":
		s = path.Base(s)
	}
	return s, true
}

// compiled is a condition ready to run: macros inlined, lists expanded,
// fields normalised and checked.
type compiled interface {
	match(Event) bool
}

type cAnd struct{ l, r compiled }
type cOr struct{ l, r compiled }
type cNot struct{ x compiled }

func (c cAnd) match(e Event) bool { return c.l.match(e) && c.r.match(e) }
func (c cOr) match(e Event) bool  { return c.l.match(e) || c.r.match(e) }
func (c cNot) match(e Event) bool { return !c.x.match(e) }

type cCmp struct {
	field Field
	typ   Type
	op    string
	vals  []string
	ints  []int64
	nets  []netip.Prefix
	set   map[string]bool
	re    *regexp.Regexp
	rhs   *Field
}

func (c *cCmp) match(e Event) bool {
	v, ok := e.get(c.field)
	if c.op == "exists" {
		return ok
	}
	if !ok {
		return false
	}
	if c.rhs != nil {
		w, ok := e.get(*c.rhs)
		if !ok {
			return false
		}
		return compareScalar(c.op, toString(v), []string{toString(w)}, nil, nil)
	}
	switch x := v.(type) {
	case []string:
		if c.op == "!=" {
			for _, s := range x {
				if !c.matchOne(s) {
					return false
				}
			}
			return true
		}
		if c.op == "intersects" {
			for _, s := range x {
				if c.set[s] {
					return true
				}
			}
			return false
		}
		for _, s := range x {
			if c.matchOne(s) {
				return true
			}
		}
		return false
	case int64:
		return compareInt(c.op, x, c.ints)
	case int:
		return compareInt(c.op, int64(x), c.ints)
	case bool:
		want := len(c.vals) > 0 && strings.EqualFold(c.vals[0], "true")
		switch c.op {
		case "=":
			return x == want
		case "!=":
			return x != want
		}
		return false
	case string:
		return c.matchOne(x)
	}
	return false
}

func (c *cCmp) matchOne(s string) bool {
	switch c.typ {
	case Int:
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && compareInt(c.op, n, c.ints)
	case Net:
		ip, err := netip.ParseAddr(s)
		return err == nil && compareNet(c.op, ip.Unmap(), c.nets)
	}
	return compareScalar(c.op, s, c.vals, c.set, c.re)
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case []string:
		return strings.Join(x, " ")
	}
	return ""
}

func compareInt(op string, n int64, vals []int64) bool {
	if len(vals) == 0 {
		return false
	}
	switch op {
	case "=":
		return n == vals[0]
	case "!=":
		return n != vals[0]
	case "<":
		return n < vals[0]
	case "<=":
		return n <= vals[0]
	case ">":
		return n > vals[0]
	case ">=":
		return n >= vals[0]
	case "in", "intersects":
		for _, v := range vals {
			if n == v {
				return true
			}
		}
	}
	return false
}

// parseNet reads a network ("10.0.0.0/8") or an address (one address's
// network).
func parseNet(s string) (netip.Prefix, error) {
	s = strings.Trim(s, `"'`) // list items keep their quotes
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

func compareNet(op string, ip netip.Addr, nets []netip.Prefix) bool {
	if len(nets) == 0 {
		return false
	}
	switch op {
	case "=":
		return nets[0].Contains(ip)
	case "!=":
		return !nets[0].Contains(ip)
	case "in", "intersects":
		for _, n := range nets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

func compareScalar(op, s string, vals []string, set map[string]bool, re *regexp.Regexp) bool {
	if len(vals) == 0 {
		return false
	}
	v := vals[0]
	switch op {
	case "=":
		return s == v
	case "!=":
		return s != v
	case "<":
		return s < v
	case "<=":
		return s <= v
	case ">":
		return s > v
	case ">=":
		return s >= v
	case "contains", "bcontains":
		return strings.Contains(s, v)
	case "icontains":
		return strings.Contains(strings.ToLower(s), strings.ToLower(v))
	case "startswith", "bstartswith":
		return strings.HasPrefix(s, v)
	case "endswith":
		return strings.HasSuffix(s, v)
	case "glob":
		return globMatch(v, s)
	case "iglob":
		return globMatch(strings.ToLower(v), strings.ToLower(s))
	case "regex":
		return re != nil && re.MatchString(s)
	case "in", "intersects":
		if set != nil {
			return set[s]
		}
		for _, x := range vals {
			if s == x {
				return true
			}
		}
	case "pmatch":
		for _, p := range vals {
			p = strings.TrimSuffix(p, "/")
			if s == p || strings.HasPrefix(s, p+"/") || p == "" {
				return true
			}
		}
	}
	return false
}

// globMatch is fnmatch without FNM_PATHNAME, as Falco uses it: '*'
// matches '/' too.
func globMatch(pattern, s string) bool {
	// path.Match stops '*' at '/'; replace separators with a byte that
	// cannot occur in either so '*' crosses them.
	const sep = "\x00"
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", sep), strings.ReplaceAll(s, "/", sep))
	return err == nil && ok
}

var regexCache sync.Map

func compileRegex(expr string) (*regexp.Regexp, error) {
	if v, ok := regexCache.Load(expr); ok {
		return v.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	regexCache.Store(expr, re)
	return re, nil
}
