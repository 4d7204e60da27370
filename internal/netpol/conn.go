package netpol

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Protocols NetworkPolicy knows, in the order Conn keeps them.
var Protocols = [3]string{"TCP", "UDP", "SCTP"}

func protoIndex(p string) int {
	for i, q := range Protocols {
		if strings.EqualFold(p, q) {
			return i
		}
	}
	return -1
}

// Range is an inclusive port range.
type Range struct{ Lo, Hi int32 }

// Ports is a sorted set of disjoint, non-adjacent port ranges.
type Ports []Range

const maxPort = 65535

var allPorts = Ports{{1, maxPort}}

func (p Ports) union(q Ports) Ports {
	if len(p) == 0 {
		return q
	}
	if len(q) == 0 {
		return p
	}
	all := append(append(make(Ports, 0, len(p)+len(q)), p...), q...)
	sort.Slice(all, func(i, j int) bool { return all[i].Lo < all[j].Lo })
	out := all[:1]
	for _, r := range all[1:] {
		last := &out[len(out)-1]
		if r.Lo <= last.Hi+1 {
			if r.Hi > last.Hi {
				last.Hi = r.Hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func (p Ports) intersect(q Ports) Ports {
	var out Ports
	i, j := 0, 0
	for i < len(p) && j < len(q) {
		lo, hi := max(p[i].Lo, q[j].Lo), min(p[i].Hi, q[j].Hi)
		if lo <= hi {
			out = append(out, Range{lo, hi})
		}
		if p[i].Hi < q[j].Hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// minus is p without q.
func (p Ports) minus(q Ports) Ports {
	var out Ports
	j := 0
	for _, r := range p {
		lo := r.Lo
		for j < len(q) && q[j].Hi < lo {
			j++
		}
		k := j
		for k < len(q) && q[k].Lo <= r.Hi {
			if q[k].Lo > lo {
				out = append(out, Range{lo, q[k].Lo - 1})
			}
			lo = q[k].Hi + 1
			k++
		}
		if lo <= r.Hi {
			out = append(out, Range{lo, r.Hi})
		}
	}
	return out
}

func (p Ports) contains(port int32) bool {
	i := sort.Search(len(p), func(i int) bool { return p[i].Hi >= port })
	return i < len(p) && p[i].Lo <= port
}

func (p Ports) String() string {
	if len(p) == 1 && p[0] == allPorts[0] {
		return "all"
	}
	parts := make([]string, len(p))
	for i, r := range p {
		if r.Lo == r.Hi {
			parts[i] = strconv.Itoa(int(r.Lo))
		} else {
			parts[i] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
		}
	}
	return strings.Join(parts, ",")
}

// Conn is a set of connections: ports per protocol.
type Conn [3]Ports

// All is every port of every protocol: what no policy restricts.
var All = Conn{allPorts, allPorts, allPorts}

// Union, Intersect and Minus are the set operations.
func (c Conn) Union(d Conn) Conn {
	for i := range c {
		c[i] = c[i].union(d[i])
	}
	return c
}

func (c Conn) Intersect(d Conn) Conn {
	for i := range c {
		c[i] = c[i].intersect(d[i])
	}
	return c
}

func (c Conn) Minus(d Conn) Conn {
	for i := range c {
		c[i] = c[i].minus(d[i])
	}
	return c
}

// Empty reports whether nothing is allowed.
func (c Conn) Empty() bool { return len(c[0])+len(c[1])+len(c[2]) == 0 }

// IsAll reports whether everything is allowed.
func (c Conn) IsAll() bool { return c.Equal(All) }

// Equal compares two sets.
func (c Conn) Equal(d Conn) bool {
	for i := range c {
		if len(c[i]) != len(d[i]) {
			return false
		}
		for j := range c[i] {
			if c[i][j] != d[i][j] {
				return false
			}
		}
	}
	return true
}

// Allows reports whether one protocol and port is in the set.
func (c Conn) Allows(proto string, port int32) bool {
	i := protoIndex(proto)
	return i >= 0 && c[i].contains(port)
}

// String is "all", "none" or e.g. "TCP 80,443-445; UDP 53".
func (c Conn) String() string {
	if c.IsAll() {
		return "all"
	}
	if c.Empty() {
		return "none"
	}
	var parts []string
	for i, p := range c {
		if len(p) > 0 {
			parts = append(parts, Protocols[i]+" "+p.String())
		}
	}
	return strings.Join(parts, "; ")
}

// Short is String for a matrix cell: "all", "-" or "TCP:80,443".
func (c Conn) Short() string {
	switch {
	case c.IsAll():
		return "all"
	case c.Empty():
		return "-"
	}
	var parts []string
	for i, p := range c {
		if len(p) > 0 {
			parts = append(parts, Protocols[i]+":"+p.String())
		}
	}
	return strings.Join(parts, " ")
}

// key is a compact identity of the set, for interning.
func (c Conn) key() string {
	var b strings.Builder
	for i, p := range c {
		if i > 0 {
			b.WriteByte('|')
		}
		for _, r := range p {
			fmt.Fprintf(&b, "%d-%d,", r.Lo, r.Hi)
		}
	}
	return b.String()
}

// connTable interns Conn values and memoizes operations on them, so the
// matrix of n² pairs holds small integers and each distinct union is
// computed once.
type connTable struct {
	conns []Conn
	ids   map[string]int32
	ops   map[[3]int32]int32
}

const (
	connNone int32 = 0
	connAll  int32 = 1
	opUnion        = 0
	opInter        = 1
	opMinus        = 2
)

func newConnTable() *connTable {
	t := &connTable{ids: map[string]int32{}, ops: map[[3]int32]int32{}}
	t.id(Conn{})
	t.id(All)
	return t
}

func (t *connTable) id(c Conn) int32 {
	k := c.key()
	if id, ok := t.ids[k]; ok {
		return id
	}
	id := int32(len(t.conns))
	t.conns = append(t.conns, c)
	t.ids[k] = id
	return id
}

func (t *connTable) op(op int32, a, b int32) int32 {
	switch {
	case op == opUnion && (a == b || b == connNone):
		return a
	case op == opUnion && a == connNone:
		return b
	case op == opUnion && (a == connAll || b == connAll):
		return connAll
	case op == opInter && (a == b || b == connAll):
		return a
	case op == opInter && a == connAll:
		return b
	case op == opInter && (a == connNone || b == connNone):
		return connNone
	case op == opMinus && (b == connNone || a == connNone):
		return a
	case op == opMinus && (a == b || b == connAll):
		return connNone
	}
	k := [3]int32{op, a, b}
	if id, ok := t.ops[k]; ok {
		return id
	}
	var c Conn
	switch op {
	case opUnion:
		c = t.conns[a].Union(t.conns[b])
	case opInter:
		c = t.conns[a].Intersect(t.conns[b])
	default:
		c = t.conns[a].Minus(t.conns[b])
	}
	id := t.id(c)
	t.ops[k] = id
	return id
}
