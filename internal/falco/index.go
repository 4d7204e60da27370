package falco

// Rules are indexed by the event types they can match, as Falco does: a
// rule whose condition requires evt.type in (execve, execveat) is never
// tried on an openat. A condition that does not pin evt.type (or pins it
// only under a not) is tried on every event.

// eventTypes says which evt.type values c can match: all, or the set.
func eventTypes(c compiled) (set map[string]bool, all bool) {
	switch c := c.(type) {
	case *cCmp:
		if c.field.Name != "evt.type" || c.field.Transform != "" || c.rhs != nil {
			return nil, true
		}
		switch c.op {
		case "=":
			return map[string]bool{c.vals[0]: true}, false
		case "in":
			return c.set, false // built by the compiler; never written here
		}
		return nil, true
	case cAnd:
		l, lall := eventTypes(c.l)
		r, rall := eventTypes(c.r)
		switch {
		case lall:
			return r, rall
		case rall:
			return l, false
		}
		s := map[string]bool{}
		for v := range l {
			if r[v] {
				s[v] = true
			}
		}
		return s, false
	case cOr:
		l, lall := eventTypes(c.l)
		r, rall := eventTypes(c.r)
		if lall || rall {
			return nil, true
		}
		s := make(map[string]bool, len(l)+len(r))
		for v := range l {
			s[v] = true
		}
		for v := range r {
			s[v] = true
		}
		return s, false
	}
	return nil, true
}

// index builds, for each event type some rule names, the rules to try
// in rule order; every other type gets the rules that pin none.
func (rs *Ruleset) index() {
	rs.byType = map[string][]*Rule{}
	rs.anyType = nil
	types := make([]map[string]bool, len(rs.Rules))
	for i, r := range rs.Rules {
		if r.cond == nil {
			continue
		}
		s, all := eventTypes(r.cond)
		if all {
			continue
		}
		types[i] = s
		for v := range s {
			rs.byType[v] = nil
		}
	}
	for i, r := range rs.Rules {
		if r.cond == nil {
			continue
		}
		if types[i] == nil {
			rs.anyType = append(rs.anyType, r)
		}
		for v := range rs.byType {
			if types[i] == nil || types[i][v] {
				rs.byType[v] = append(rs.byType[v], r)
			}
		}
	}
}

// For returns the rules that can match an event of this evt.type, in
// rule order (Compile builds the index).
func (rs *Ruleset) For(evtType string) []*Rule {
	if l, ok := rs.byType[evtType]; ok {
		return l
	}
	return rs.anyType
}
