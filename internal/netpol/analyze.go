package netpol

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Compute evaluates every pair of endpoints. It is quadratic in the
// endpoints and linear in the rules that match each pair; cancelling ctx
// stops it between rows.
func (a *Analysis) Compute(ctx context.Context) error {
	n := len(a.Endpoints)
	// m[dst*n+src] holds first the receiver's ingress answer, then, once
	// the sender's egress row is known, the connection itself: one n²
	// table instead of two.
	m := make([]int32, n*n)
	for dst := range n {
		if dst%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row := m[dst*n : (dst+1)*n]
		if dst < a.pods {
			a.side(ingress, dst, row)
		} else {
			fill(row, connAll) // nothing outside the cluster is policed
		}
	}
	out := make([]int32, n)
	for src := range n {
		if src%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if src < a.pods {
			a.side(egress, src, out)
		} else {
			fill(out, connAll)
		}
		for dst := range n {
			i := dst*n + src
			if src >= a.pods && dst >= a.pods {
				m[i] = connNone // outside to outside is not the cluster's traffic
				continue
			}
			m[i] = a.conns.op(opInter, out[dst], m[i])
		}
	}
	a.matrix = m
	return nil
}

func fill(s []int32, v int32) {
	for i := range s {
		s[i] = v
	}
}

// Conn is what may flow from src to dst (indexes into Endpoints), after
// Compute.
func (a *Analysis) Conn(src, dst int) Conn {
	return a.conns.conns[a.matrix[dst*len(a.Endpoints)+src]]
}

func (a *Analysis) connID(src, dst int) int32 { return a.matrix[dst*len(a.Endpoints)+src] }

// side fills out[peer] with what self's policies in direction d allow
// with each peer (the source for ingress, the destination for egress).
func (a *Analysis) side(d direction, self int, out []int32) {
	s := &a.subjects[d][self]
	if a.Endpoints[self].HostNetwork || len(s.admin)+len(s.baseline) == 0 && !s.isolated {
		fill(out, connAll)
		return
	}
	if len(s.admin)+len(s.baseline) == 0 {
		fill(out, connNone)
		for _, r := range s.np {
			r.peers.each(func(p int) {
				out[p] = a.conns.op(opUnion, out[p], a.connFor(r, a.dest(d, self, p)))
			})
		}
		return
	}
	for p := range out {
		out[p] = a.evaluate(d, self, p, nil)
	}
}

func (a *Analysis) dest(d direction, self, peer int) int {
	if d == ingress {
		return self
	}
	return peer
}

// Step is one rule that decided part of a connection, for explanations.
type Step struct {
	Tier      string `json:"tier"`
	Policy    string `json:"policy"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Direction string `json:"direction"`
	Rule      int    `json:"rule"`
	RuleName  string `json:"ruleName,omitempty"`
	Action    string `json:"action"`
	// Ports is what this rule decided (after higher-precedence rules).
	Ports string `json:"ports"`
}

var tierNames = [...]string{"AdminNetworkPolicy", "NetworkPolicy", "BaselineAdminNetworkPolicy"}

// evaluate is the tiered decision for one pair: admin rules first (by
// priority, first match wins per port), Pass and undecided ports to
// NetworkPolicy, which decides alone when it isolates self; otherwise
// the baseline, and what is left is allowed.
func (a *Analysis) evaluate(d direction, self, peer int, trace *[]Step) int32 {
	s := &a.subjects[d][self]
	dst := a.dest(d, self, peer)
	t := a.conns
	step := func(r *rule, act string, c int32) {
		if trace != nil {
			*trace = append(*trace, Step{Tier: tierNames[r.tier], Policy: r.policy.String(), File: r.policy.File, Line: r.policy.Line,
				Direction: d.String(), Rule: r.index, RuleName: r.name, Action: act, Ports: t.conns[c].String()})
		}
	}
	if a.Endpoints[self].HostNetwork {
		return connAll
	}
	allowed, deferred := connNone, connNone
	undecided := a.firstMatch(s.admin, peer, dst, connAll, &allowed, &deferred, step)
	next := t.op(opUnion, undecided, deferred)
	if s.isolated {
		np := connNone
		for _, r := range s.np {
			if r.peers.has(peer) {
				c := a.connFor(r, dst)
				step(r, "Allow", t.op(opInter, c, next))
				np = t.op(opUnion, np, c)
			}
		}
		if trace != nil {
			if denied := t.op(opMinus, next, np); denied != connNone {
				*trace = append(*trace, Step{Tier: tierNames[tierNetworkPolicy], Policy: "(isolated: no rule allows)", Direction: d.String(), Rule: -1,
					Action: "Deny", Ports: t.conns[denied].String()})
			}
		}
		return t.op(opUnion, allowed, t.op(opInter, next, np))
	}
	next = a.firstMatch(s.baseline, peer, dst, next, &allowed, &deferred, step)
	if trace != nil && next != connNone {
		*trace = append(*trace, Step{Tier: "default", Policy: "(no policy isolates it)", Direction: d.String(), Rule: -1, Action: "Allow", Ports: t.conns[next].String()})
	}
	return t.op(opUnion, allowed, next)
}

// firstMatch walks ordered rules (the admin tiers): the first rule that
// matches peer decides each port of undecided, Allow into allowed, Pass
// into deferred; it returns what no rule decided.
func (a *Analysis) firstMatch(rules []*rule, peer, dst int, undecided int32, allowed, deferred *int32, step func(*rule, string, int32)) int32 {
	t := a.conns
	for _, r := range rules {
		if !r.peers.has(peer) {
			continue
		}
		m := t.op(opInter, a.connFor(r, dst), undecided)
		if m == connNone {
			continue
		}
		step(r, r.action.String(), m)
		switch r.action {
		case allow:
			*allowed = t.op(opUnion, *allowed, m)
		case pass:
			*deferred = t.op(opUnion, *deferred, m)
		}
		undecided = t.op(opMinus, undecided, m)
	}
	return undecided
}

// Explanation says why a connection is allowed or denied.
type Explanation struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Allowed string `json:"allowed"`
	// Egress is the sender's side, Ingress the receiver's.
	Egress  []Step `json:"egress"`
	Ingress []Step `json:"ingress"`
	// EgressAllowed and IngressAllowed are each side's answer; the
	// connection is their intersection.
	EgressAllowed  string `json:"egressAllowed"`
	IngressAllowed string `json:"ingressAllowed"`
}

// Explain traces the decision from src to dst.
func (a *Analysis) Explain(src, dst int) Explanation {
	x := Explanation{From: a.Endpoints[src].ID, To: a.Endpoints[dst].ID, Egress: []Step{}, Ingress: []Step{}}
	eg, in := connAll, connAll
	if src < a.pods {
		eg = a.evaluate(egress, src, dst, &x.Egress)
	}
	if dst < a.pods {
		in = a.evaluate(ingress, dst, src, &x.Ingress)
	}
	x.EgressAllowed, x.IngressAllowed = a.conns.conns[eg].String(), a.conns.conns[in].String()
	x.Allowed = a.conns.conns[a.conns.op(opInter, eg, in)].String()
	if src >= a.pods && dst >= a.pods {
		x.Allowed = "none"
	}
	return x
}

// Find resolves a name from the command line: an endpoint ID, a
// workload name when only one has it, "outside" (the whole outside when
// no policy cuts it), or an IP address outside the cluster.
func (a *Analysis) Find(name string) (int, error) {
	var hits []int
	for i, e := range a.Endpoints {
		if e.ID == name || !e.external && (e.Name == name || e.Namespace+"/"+e.Kind+"/"+e.Name == name) {
			hits = append(hits, i)
		}
	}
	if ip, err := netip.ParseAddr(strings.TrimPrefix(name, "outside:")); err == nil {
		for i := a.pods; i < len(a.Endpoints); i++ {
			if a.Endpoints[i].atom.contains(ip) {
				return i, nil
			}
		}
	}
	if name == "outside" && len(a.Endpoints)-a.pods == 2 {
		return a.pods, nil // IPv4's whole space
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return -1, fmt.Errorf("no workload or address %q in the inputs (use namespace/name as the matrix shows it, or an IP address)", name)
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = a.Endpoints[h].ID
	}
	return -1, fmt.Errorf("%q names %d workloads (%s); use namespace/name", name, len(hits), strings.Join(ids, ", "))
}

// Pods is the number of workload endpoints; Endpoints[Pods():] are the
// ranges outside the cluster.
func (a *Analysis) Pods() int { return a.pods }
