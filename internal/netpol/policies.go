package netpol

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"

	"bulwark.dev/bulwark/internal/k8s"
)

// pendingPolicy is a policy read and validated, before its selectors are
// evaluated over the endpoints.
type pendingPolicy struct {
	policy *Policy
	tier   tier
	// Subject: NetworkPolicy selects pods of its own namespace (subjNS
	// set); the admin kinds select by namespace and pod labels.
	subjNS     string
	subjNSSel  labels.Selector
	subjPodSel labels.Selector
	// types says which directions the policy isolates (NetworkPolicy
	// policyTypes); the admin kinds isolate nothing by themselves.
	types [2]bool
	rules []pendingRule
}

type pendingRule struct {
	dir    direction
	action action
	name   string
	index  int
	// all: the rule matches every source or destination.
	all   bool
	peers []pendingPeer
	ports Conn
	named []namedRef
}

type pendingPeer struct {
	// nsExact limits pods to one namespace (a NetworkPolicy podSelector
	// without namespaceSelector); otherwise nsSel picks namespaces.
	nsExact string
	nsSel   labels.Selector
	podSel  labels.Selector // nil: pods are not matched by this peer
	blocks  []ipBlock
}

const (
	anpGroup = "policy.networking.k8s.io/"
)

// readPolicy recognises and validates a policy object. A policy the API
// server would refuse is left out with a warning: it would not be in
// force, so what it meant to deny stays reachable.
func (a *Analysis) readPolicy(o *k8s.Object, ns string) (pendingPolicy, bool) {
	pol := &Policy{Kind: o.Kind, Namespace: ns, Name: o.Name, File: o.File, Line: o.Line}
	var p pendingPolicy
	var err error
	switch {
	case o.Kind == "NetworkPolicy" && o.NetworkPolicy != nil:
		p, err = readNetworkPolicy(o.NetworkPolicy, ns)
	case o.Kind == "AdminNetworkPolicy" && strings.HasPrefix(o.APIVersion, anpGroup):
		pol.Namespace = ""
		p, err = a.readAdmin(o, tierAdmin)
		if err == nil {
			pol.Priority = p.policy.Priority
		}
	case o.Kind == "BaselineAdminNetworkPolicy" && strings.HasPrefix(o.APIVersion, anpGroup):
		pol.Namespace = ""
		p, err = a.readAdmin(o, tierBaseline)
		if err == nil && o.Name != "default" {
			// The CRD accepts only one baseline, named default.
			err = errors.New(`a BaselineAdminNetworkPolicy must be named "default"`)
		}
	case o.Kind == "NetworkPolicy" && strings.Contains(o.APIVersion, "projectcalico.org"),
		o.Kind == "GlobalNetworkPolicy" && strings.Contains(o.APIVersion, "projectcalico.org"):
		a.warn(o, "Calico policies are not evaluated yet; the matrix ignores this policy")
		return pendingPolicy{}, false
	default:
		return pendingPolicy{}, false
	}
	if err != nil {
		a.warn(o, "the API server refuses this policy (%v); it is left out of the analysis, so what it meant to restrict is shown as reachable", err)
		return pendingPolicy{}, false
	}
	p.policy = pol
	return p, true
}

func selector(what string, s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	return sel, nil
}

func readNetworkPolicy(spec *networkingv1.NetworkPolicySpec, ns string) (pendingPolicy, error) {
	p := pendingPolicy{tier: tierNetworkPolicy, subjNS: ns}
	var err error
	if p.subjPodSel, err = selector("spec.podSelector", &spec.PodSelector); err != nil {
		return p, err
	}
	if len(spec.PolicyTypes) == 0 {
		p.types[ingress] = true
		p.types[egress] = len(spec.Egress) > 0
	}
	for _, t := range spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.types[ingress] = true
		case networkingv1.PolicyTypeEgress:
			p.types[egress] = true
		default:
			return p, fmt.Errorf("spec.policyTypes: unknown type %q (Ingress or Egress)", t)
		}
	}
	for i, r := range spec.Ingress {
		pr, err := npRule(fmt.Sprintf("spec.ingress[%d]", i), ingress, i, r.From, r.Ports, ns)
		if err != nil {
			return p, err
		}
		if p.types[ingress] {
			p.rules = append(p.rules, pr)
		}
	}
	for i, r := range spec.Egress {
		pr, err := npRule(fmt.Sprintf("spec.egress[%d]", i), egress, i, r.To, r.Ports, ns)
		if err != nil {
			return p, err
		}
		if p.types[egress] {
			p.rules = append(p.rules, pr)
		}
	}
	return p, nil
}

func npRule(path string, dir direction, index int, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, ns string) (pendingRule, error) {
	r := pendingRule{dir: dir, action: allow, index: index, all: len(peers) == 0}
	field := "from"
	if dir == egress {
		field = "to"
	}
	for j, peer := range peers {
		where := fmt.Sprintf("%s.%s[%d]", path, field, j)
		var pp pendingPeer
		switch {
		case peer.IPBlock != nil:
			if peer.PodSelector != nil || peer.NamespaceSelector != nil {
				return r, fmt.Errorf("%s: ipBlock may not be combined with podSelector or namespaceSelector", where)
			}
			b, err := parseIPBlock(peer.IPBlock.CIDR, peer.IPBlock.Except)
			if err != nil {
				return r, fmt.Errorf("%s: %v", where, err)
			}
			pp.blocks = []ipBlock{b}
		case peer.PodSelector == nil && peer.NamespaceSelector == nil:
			return r, fmt.Errorf("%s: a peer must set podSelector, namespaceSelector or ipBlock", where)
		default:
			var err error
			if pp.podSel, err = selector(where+".podSelector", peer.PodSelector); err != nil {
				return r, err
			}
			if peer.NamespaceSelector == nil {
				pp.nsExact = ns
			} else if pp.nsSel, err = selector(where+".namespaceSelector", peer.NamespaceSelector); err != nil {
				return r, err
			}
		}
		r.peers = append(r.peers, pp)
	}
	if len(ports) == 0 {
		r.ports = All
		return r, nil
	}
	for j, port := range ports {
		where := fmt.Sprintf("%s.ports[%d]", path, j)
		proto := 0
		if port.Protocol != nil {
			if proto = protoIndex(string(*port.Protocol)); proto < 0 || string(*port.Protocol) != Protocols[proto] {
				return r, fmt.Errorf("%s.protocol: %q is not TCP, UDP or SCTP", where, *port.Protocol)
			}
		}
		switch {
		case port.Port == nil:
			if port.EndPort != nil {
				return r, fmt.Errorf("%s: endPort needs port", where)
			}
			r.ports[proto] = allPorts
		case port.Port.Type == intstr.String:
			if port.EndPort != nil {
				return r, fmt.Errorf("%s: endPort may not be set with the named port %q", where, port.Port.StrVal)
			}
			if port.Port.StrVal == "" {
				return r, fmt.Errorf("%s.port: empty name", where)
			}
			r.named = append(r.named, namedRef{proto, port.Port.StrVal})
		default:
			lo, hi := port.Port.IntVal, port.Port.IntVal
			if port.EndPort != nil {
				hi = *port.EndPort
			}
			if lo < 1 || lo > maxPort || hi < lo || hi > maxPort {
				return r, fmt.Errorf("%s: port range %d-%d is not within 1-65535 in order", where, lo, hi)
			}
			r.ports[proto] = r.ports[proto].union(Ports{{lo, hi}})
		}
	}
	return r, nil
}

// The admin kinds, as sigs.k8s.io/network-policy-api v1alpha1 defines
// them (the fields bulwark evaluates; unknown fields are warned about).
type adminSpec struct {
	Priority *int32      `json:"priority"`
	Subject  adminTarget `json:"subject"`
	Ingress  []adminRule `json:"ingress"`
	Egress   []adminRule `json:"egress"`
}

type adminTarget struct {
	Namespaces *metav1.LabelSelector `json:"namespaces"`
	Pods       *adminPods            `json:"pods"`
}

type adminPods struct {
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
	PodSelector       metav1.LabelSelector `json:"podSelector"`
}

type adminRule struct {
	Name   string       `json:"name"`
	Action string       `json:"action"`
	From   []adminPeer  `json:"from"`
	To     []adminPeer  `json:"to"`
	Ports  *[]adminPort `json:"ports"`
}

type adminPeer struct {
	Namespaces  *metav1.LabelSelector `json:"namespaces"`
	Pods        *adminPods            `json:"pods"`
	Nodes       *metav1.LabelSelector `json:"nodes"`
	Networks    []string              `json:"networks"`
	DomainNames []string              `json:"domainNames"`
}

type adminPort struct {
	PortNumber *struct {
		Protocol string `json:"protocol"`
		Port     int32  `json:"port"`
	} `json:"portNumber"`
	NamedPort *string `json:"namedPort"`
	PortRange *struct {
		Protocol string `json:"protocol"`
		Start    int32  `json:"start"`
		End      int32  `json:"end"`
	} `json:"portRange"`
}

func (a *Analysis) readAdmin(o *k8s.Object, t tier) (pendingPolicy, error) {
	p := pendingPolicy{tier: t, policy: &Policy{}}
	b, err := json.Marshal(o.Raw["spec"])
	if err != nil {
		return p, err
	}
	var spec adminSpec
	strict, err := kjson.UnmarshalStrict(b, &spec)
	if err != nil {
		return p, fmt.Errorf("spec: %v", err)
	}
	for _, s := range strict {
		a.warn(o, "spec: %v (not evaluated)", s)
	}
	if t == tierAdmin {
		if spec.Priority == nil || *spec.Priority < 0 || *spec.Priority > 1000 {
			return p, errors.New("spec.priority must be set, from 0 to 1000")
		}
		p.policy.Priority = *spec.Priority
	}
	switch s := spec.Subject; {
	case (s.Namespaces == nil) == (s.Pods == nil):
		return p, errors.New("spec.subject must set exactly one of namespaces and pods")
	case s.Namespaces != nil:
		if p.subjNSSel, err = selector("spec.subject.namespaces", s.Namespaces); err != nil {
			return p, err
		}
		p.subjPodSel = labels.Everything()
	default:
		if p.subjNSSel, err = selector("spec.subject.pods.namespaceSelector", &s.Pods.NamespaceSelector); err != nil {
			return p, err
		}
		if p.subjPodSel, err = selector("spec.subject.pods.podSelector", &s.Pods.PodSelector); err != nil {
			return p, err
		}
	}
	for d, rules := range [2][]adminRule{spec.Ingress, spec.Egress} {
		dir := direction(d)
		for i, r := range rules {
			path := fmt.Sprintf("spec.%s[%d]", dir, i)
			pr, err := a.adminRule(o, path, dir, i, r, t)
			if err != nil {
				return p, err
			}
			p.rules = append(p.rules, pr)
		}
	}
	return p, nil
}

func (a *Analysis) adminRule(o *k8s.Object, path string, dir direction, index int, r adminRule, t tier) (pendingRule, error) {
	pr := pendingRule{dir: dir, index: index, name: r.Name}
	switch r.Action {
	case "Allow":
		pr.action = allow
	case "Deny":
		pr.action = deny
	case "Pass":
		if t == tierBaseline {
			return pr, fmt.Errorf("%s.action: Pass is not allowed in a BaselineAdminNetworkPolicy", path)
		}
		pr.action = pass
	default:
		return pr, fmt.Errorf("%s.action: %q is not Allow, Deny or Pass", path, r.Action)
	}
	peers, field := r.From, "from"
	if dir == egress {
		peers, field = r.To, "to"
	}
	if len(peers) == 0 {
		return pr, fmt.Errorf("%s.%s: at least one peer is required", path, field)
	}
	for j, peer := range peers {
		where := fmt.Sprintf("%s.%s[%d]", path, field, j)
		var pp pendingPeer
		var err error
		switch {
		case peer.Namespaces != nil:
			if pp.nsSel, err = selector(where+".namespaces", peer.Namespaces); err != nil {
				return pr, err
			}
			pp.podSel = labels.Everything()
		case peer.Pods != nil:
			if pp.nsSel, err = selector(where+".pods.namespaceSelector", &peer.Pods.NamespaceSelector); err != nil {
				return pr, err
			}
			if pp.podSel, err = selector(where+".pods.podSelector", &peer.Pods.PodSelector); err != nil {
				return pr, err
			}
		case len(peer.Networks) > 0 && dir == egress:
			for _, n := range peer.Networks {
				b, err := parseIPBlock(n, nil)
				if err != nil {
					return pr, fmt.Errorf("%s.networks: %v", where, err)
				}
				pp.blocks = append(pp.blocks, b)
			}
		case peer.Nodes != nil && dir == egress:
			a.warn(o, "%s.nodes: nodes are not in the manifests; this peer matches nothing here", where)
		case len(peer.DomainNames) > 0 && dir == egress:
			a.warn(o, "%s.domainNames: names resolve at run time; this peer matches nothing here", where)
		default:
			return pr, fmt.Errorf("%s: a peer must set namespaces or pods (egress also nodes, networks or domainNames)", where)
		}
		pr.peers = append(pr.peers, pp)
	}
	if r.Ports == nil {
		pr.ports = All
		return pr, nil
	}
	for j, port := range *r.Ports {
		where := fmt.Sprintf("%s.ports[%d]", path, j)
		proto := func(s string) (int, error) {
			if s == "" {
				return 0, nil
			}
			i := protoIndex(s)
			if i < 0 || s != Protocols[i] {
				return 0, fmt.Errorf("%s: protocol %q is not TCP, UDP or SCTP", where, s)
			}
			return i, nil
		}
		switch {
		case port.PortNumber != nil:
			i, err := proto(port.PortNumber.Protocol)
			if err != nil {
				return pr, err
			}
			if n := port.PortNumber.Port; n < 1 || n > maxPort {
				return pr, fmt.Errorf("%s.portNumber.port: %d is not within 1-65535", where, n)
			}
			pr.ports[i] = pr.ports[i].union(Ports{{port.PortNumber.Port, port.PortNumber.Port}})
		case port.PortRange != nil:
			i, err := proto(port.PortRange.Protocol)
			if err != nil {
				return pr, err
			}
			lo, hi := port.PortRange.Start, port.PortRange.End
			if lo < 1 || hi > maxPort || hi < lo {
				return pr, fmt.Errorf("%s.portRange: %d-%d is not within 1-65535 in order", where, lo, hi)
			}
			pr.ports[i] = pr.ports[i].union(Ports{{lo, hi}})
		case port.NamedPort != nil:
			pr.named = append(pr.named, namedRef{-1, *port.NamedPort})
		default:
			return pr, fmt.Errorf("%s: set one of portNumber, portRange and namedPort", where)
		}
	}
	return pr, nil
}

func collectCIDRs(pols []pendingPolicy) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range pols {
		for _, r := range p.rules {
			for _, pp := range r.peers {
				for _, b := range pp.blocks {
					out = append(out, b.cidr)
					out = append(out, b.except...)
				}
			}
		}
	}
	return out
}

// compile evaluates a policy's selectors over the endpoints.
func (a *Analysis) compile(p pendingPolicy) {
	n := len(a.Endpoints)
	var subjects []int
	for ns, list := range a.nsPods() {
		if p.subjNSSel == nil && ns != p.subjNS || p.subjNSSel != nil && !matches(p.subjNSSel, a.namespaces[ns]) {
			continue
		}
		for _, i := range list {
			if matches(p.subjPodSel, a.Endpoints[i].Labels) {
				subjects = append(subjects, i)
			}
		}
	}
	sort.Ints(subjects)
	rules := make([]*rule, 0, len(p.rules))
	for _, pr := range p.rules {
		r := &rule{policy: p.policy, index: pr.index, name: pr.name, dir: pr.dir, tier: p.tier, action: pr.action,
			peers: newBitset(n), ports: pr.ports, named: pr.named}
		if len(r.named) == 0 {
			r.connID = a.conns.id(r.ports)
		} else {
			r.cache = map[int32]int32{}
		}
		if pr.all {
			for i := range n {
				if i >= a.pods || !a.Endpoints[i].HostNetwork {
					r.peers.set(i)
				}
			}
		}
		for _, pp := range pr.peers {
			a.fillPeer(r.peers, pp)
		}
		rules = append(rules, r)
	}
	for _, s := range subjects {
		for d := range a.subjects {
			sub := &a.subjects[d][s]
			if p.tier == tierNetworkPolicy && p.types[d] {
				sub.isolated = true
			}
			for _, r := range rules {
				if int(r.dir) != d {
					continue
				}
				switch p.tier {
				case tierAdmin:
					sub.admin = append(sub.admin, r)
				case tierNetworkPolicy:
					sub.np = append(sub.np, r)
				default:
					sub.baseline = append(sub.baseline, r)
				}
			}
		}
	}
	a.checkNamed(p, rules, subjects)
}

// nsPods lists the workloads policy applies to, by namespace.
func (a *Analysis) nsPods() map[string][]int {
	if a.byNS == nil {
		a.byNS = map[string][]int{}
		for i, e := range a.Endpoints[:a.pods] {
			if !e.HostNetwork {
				a.byNS[e.Namespace] = append(a.byNS[e.Namespace], i)
			}
		}
	}
	return a.byNS
}

func (a *Analysis) fillPeer(bs bitset, pp pendingPeer) {
	if pp.podSel != nil {
		pick := func(ns string) {
			everything := pp.podSel.Empty()
			for _, i := range a.nsPods()[ns] {
				if everything || matches(pp.podSel, a.Endpoints[i].Labels) {
					bs.set(i)
				}
			}
		}
		if pp.nsSel == nil {
			pick(pp.nsExact)
		} else {
			for ns, l := range a.namespaces {
				if matches(pp.nsSel, l) {
					pick(ns)
				}
			}
		}
	}
	for _, b := range pp.blocks {
		for i := a.pods; i < len(a.Endpoints); i++ {
			if b.covers(a.Endpoints[i].atom) {
				bs.set(i)
			}
		}
	}
}

// checkNamed warns about named ports that no destination defines: the
// rule then allows nothing on that port, which is rarely what was meant.
func (a *Analysis) checkNamed(p pendingPolicy, rules []*rule, subjects []int) {
	for _, r := range rules {
		for _, nr := range r.named {
			found := false
			dsts := subjects
			if r.dir == egress {
				dsts = r.peers.list()
			}
			for _, d := range dsts {
				if d < a.pods {
					if np, ok := a.Endpoints[d].ports[nr.name]; ok && (nr.proto < 0 || np.proto == nr.proto) {
						found = true
						break
					}
				}
			}
			if !found {
				a.Warnings = append(a.Warnings, Warning{File: p.policy.File, Line: p.policy.Line, Object: p.policy.String(),
					Message: fmt.Sprintf("%s rule %d names port %q, which no container of the pods it applies to declares; it allows nothing on that port", r.dir, r.index, nr.name)})
			}
		}
	}
}

// connFor is the rule's ports toward one destination, named ports
// resolved on it.
func (a *Analysis) connFor(r *rule, dst int) int32 {
	if r.named == nil {
		return r.connID
	}
	e := a.Endpoints[dst]
	if id, ok := r.cache[e.portsSig]; ok {
		return id
	}
	c := r.ports
	for _, nr := range r.named {
		if np, ok := e.ports[nr.name]; ok && (nr.proto < 0 || np.proto == nr.proto) {
			c[np.proto] = c[np.proto].union(Ports{{np.port, np.port}})
		}
	}
	id := a.conns.id(c)
	r.cache[e.portsSig] = id
	return id
}
