// Package netpol answers "who can reach whom, on which ports" from the
// manifests alone: Kubernetes NetworkPolicy, AdminNetworkPolicy and
// BaselineAdminNetworkPolicy (sigs.k8s.io/network-policy-api v1alpha1),
// evaluated over every pair of workloads and the addresses outside the
// cluster. It reads the shared Kubernetes model (internal/k8s), so the
// checks, the admission webhook and this analysis see the same objects.
//
// Semantics follow the Kubernetes API reference and the upstream e2e
// truth tables: a pod no policy selects (in a direction) is not isolated
// in that direction; a connection needs the sender's egress and the
// receiver's ingress; named ports resolve on the destination pod;
// AdminNetworkPolicy rules (by priority, then rule order) decide before
// NetworkPolicy, Pass hands over to it, and the baseline decides only for
// pods NetworkPolicy leaves unisolated. ipBlock and networks match
// addresses outside the cluster, not pod IPs (which manifests do not
// have); hostNetwork pods are not subject to policy.
package netpol

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"bulwark.dev/bulwark/internal/k8s"
)

// Endpoint is a workload (every pod of it) or a range of addresses
// outside the cluster.
type Endpoint struct {
	// ID names the endpoint in the matrix and on the command line:
	// "namespace/name" for a workload ("namespace/Kind/name" when two
	// kinds share a name), "outside:CIDR,..." for external addresses.
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	// CIDRs are the addresses of an external endpoint.
	CIDRs       []string          `json:"cidrs,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	HostNetwork bool              `json:"hostNetwork,omitempty"`

	ports          map[string]namedPort
	served         []namedPort // every container port, named or not
	serviceAccount string
	portsSig       int32
	external       bool
	atom           atom
}

// External reports whether the endpoint is outside the cluster.
func (e *Endpoint) External() bool { return e.external }

type namedPort struct {
	proto int
	port  int32
}

// Warning is something in the inputs the analysis could not honour or
// that is probably not what its author meant; it names the object.
type Warning struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Object  string `json:"object"`
	Message string `json:"message"`
}

func (w Warning) String() string {
	loc := w.File
	if w.Line > 0 {
		loc = fmt.Sprintf("%s:%d", w.File, w.Line)
	}
	if loc == "" {
		return w.Object + ": " + w.Message
	}
	return loc + ": " + w.Object + ": " + w.Message
}

// Policy is one policy object, for explanations.
type Policy struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	// Priority orders AdminNetworkPolicies (lower first).
	Priority int32 `json:"priority,omitempty"`
}

func (p *Policy) String() string {
	if p.Namespace != "" {
		return p.Kind + " " + p.Namespace + "/" + p.Name
	}
	return p.Kind + " " + p.Name
}

type direction int

const (
	ingress direction = iota
	egress
)

func (d direction) String() string {
	if d == ingress {
		return "ingress"
	}
	return "egress"
}

type action int

const (
	allow action = iota
	deny
	pass
)

func (a action) String() string {
	return [...]string{"Allow", "Deny", "Pass"}[a]
}

type tier int

const (
	tierAdmin tier = iota
	tierNetworkPolicy
	tierBaseline
)

// rule is one rule of any policy kind, reduced to who it matches (a
// bitset of endpoints) and which ports (resolved per destination when
// it names ports).
type rule struct {
	policy *Policy
	index  int // position in the policy's list for its direction
	name   string
	dir    direction
	tier   tier
	action action
	peers  bitset
	ports  Conn
	named  []namedRef
	// connID is ports interned, when no port is named.
	connID int32
	cache  map[int32]int32 // destination portsSig -> conn id
}

type namedRef struct {
	proto int // -1: any protocol
	name  string
}

// subject is what one endpoint is subject to in one direction.
type subject struct {
	admin    []*rule // in precedence order
	np       []*rule
	isolated bool // some NetworkPolicy selects it in this direction
	baseline []*rule
}

// Options tune the reading of the inputs.
type Options struct {
	// DefaultNamespace is where objects without a namespace go
	// ("default", as kubectl with no context namespace).
	DefaultNamespace string
}

// Analysis is the evaluated model.
type Analysis struct {
	Endpoints []*Endpoint
	Policies  []*Policy
	Warnings  []Warning

	pods       int // Endpoints[:pods] are workloads, the rest external
	defaultNS  string
	byNS       map[string][]int // workloads by namespace, for selectors
	namespaces map[string]map[string]string
	subjects   [2][]subject // by direction, per endpoint
	conns      *connTable
	sigs       map[string]int32
	// matrix[src*n+dst] is the conn id from src to dst, once computed.
	matrix []int32
}

func (a *Analysis) warn(o *k8s.Object, format string, args ...any) {
	a.Warnings = append(a.Warnings, Warning{File: o.File, Line: o.Line, Object: a.ref(o), Message: fmt.Sprintf(format, args...)})
}

// nsOf is the namespace an object lands in ("" for cluster-scoped kinds).
func (a *Analysis) nsOf(o *k8s.Object) string {
	if o.Namespace == "" && !k8s.ClusterScoped[o.Kind] {
		return a.defaultNS
	}
	return o.Namespace
}

// ref names an object with the namespace it lands in.
func (a *Analysis) ref(o *k8s.Object) string {
	if ns := a.nsOf(o); ns != "" {
		return o.Kind + " " + ns + "/" + o.Name
	}
	return o.Kind + " " + o.Name
}

// Build reads the objects into endpoints and rules. Objects it does not
// reason about are ignored; objects it cannot honour are warnings.
func Build(objs []*k8s.Object, opt Options) *Analysis {
	if opt.DefaultNamespace == "" {
		opt.DefaultNamespace = "default"
	}
	a := &Analysis{namespaces: map[string]map[string]string{}, conns: newConnTable(), sigs: map[string]int32{}, defaultNS: opt.DefaultNamespace}
	objs = a.dedupe(objs)
	declared := map[string]bool{}
	for _, o := range objs {
		if o.Kind == "Namespace" && o.APIVersion == "v1" {
			l := map[string]string{}
			for k, v := range o.Labels {
				l[k] = v
			}
			// The API server sets this label on every namespace.
			l["kubernetes.io/metadata.name"] = o.Name
			a.namespaces[o.Name] = l
			declared[o.Name] = true
		}
	}
	addNS := func(ns string) {
		if _, ok := a.namespaces[ns]; !ok && ns != "" {
			a.namespaces[ns] = map[string]string{"kubernetes.io/metadata.name": ns}
		}
	}
	// Workloads first: rules are bitsets over them.
	for _, o := range objs {
		if o.Pod == nil || o.Pod.Spec == nil {
			continue
		}
		ns := a.nsOf(o)
		addNS(ns)
		e := &Endpoint{Kind: o.Kind, Namespace: ns, Name: o.Name, File: o.File, Line: o.Line,
			Labels: o.Pod.Labels, HostNetwork: o.Pod.Spec.HostNetwork, ports: map[string]namedPort{},
			serviceAccount: o.Pod.Spec.ServiceAccountName}
		if e.serviceAccount == "" {
			e.serviceAccount = "default"
		}
		for _, c := range o.Pod.Containers {
			if c.Init && !sidecar(c.Container) {
				continue // init containers serve nothing once the pod runs
			}
			for _, p := range c.Ports {
				proto := protoIndex(string(p.Protocol))
				if p.Protocol == "" {
					proto = 0
				}
				if proto < 0 {
					a.warn(o, "container %s port %d has unknown protocol %q", c.Name, p.ContainerPort, p.Protocol)
					continue
				}
				e.served = append(e.served, namedPort{proto, p.ContainerPort})
				if p.Name != "" {
					e.ports[p.Name] = namedPort{proto, p.ContainerPort}
				}
			}
		}
		a.Endpoints = append(a.Endpoints, e)
	}
	a.pods = len(a.Endpoints)
	nameEndpoints(a.Endpoints)
	for _, e := range a.Endpoints {
		e.portsSig = a.sig(e.ports)
	}
	// Policies: the CIDRs they name cut the outside into atoms.
	var pols []pendingPolicy
	for _, o := range objs {
		if p, ok := a.readPolicy(o, a.nsOf(o)); ok {
			pols = append(pols, p)
			addNS(p.policy.Namespace)
		}
	}
	for _, p := range pols {
		if ns := p.policy.Namespace; ns != "" && len(declared) > 0 && !declared[ns] && !builtinNamespaces[ns] {
			a.Warnings = append(a.Warnings, Warning{File: p.policy.File, Line: p.policy.Line, Object: p.policy.String(),
				Message: fmt.Sprintf("namespace %q is not declared in the inputs; it is assumed to exist with only the kubernetes.io/metadata.name label", ns)})
		}
	}
	for _, at := range makeAtoms(collectCIDRs(pols)) {
		a.Endpoints = append(a.Endpoints, &Endpoint{Kind: "External", ID: "outside:" + at.String(), CIDRs: at.cidrs(), external: true, atom: at, portsSig: a.sig(nil)})
	}
	n := len(a.Endpoints)
	for d := range a.subjects {
		a.subjects[d] = make([]subject, n)
	}
	byPriority := map[int32][]string{}
	for _, p := range pols {
		a.Policies = append(a.Policies, p.policy)
		a.compile(p)
		if p.tier == tierAdmin {
			byPriority[p.policy.Priority] = append(byPriority[p.policy.Priority], p.policy.Name)
		}
	}
	for _, p := range pols {
		if names := byPriority[p.policy.Priority]; p.tier == tierAdmin && len(names) > 1 {
			a.Warnings = append(a.Warnings, Warning{File: p.policy.File, Line: p.policy.Line, Object: p.policy.String(),
				Message: fmt.Sprintf("priority %d is shared with %s; the API leaves their order undefined (bulwark orders them by name)", p.policy.Priority, strings.Join(others(names, p.policy.Name), ", "))})
		}
	}
	for d := range a.subjects {
		for i := range a.subjects[d] {
			s := &a.subjects[d][i]
			sort.SliceStable(s.admin, func(x, y int) bool {
				px, py := s.admin[x].policy, s.admin[y].policy
				if px.Priority != py.Priority {
					return px.Priority < py.Priority
				}
				return px.Name < py.Name // the API leaves ties undefined; warned about above
			})
		}
	}
	sort.SliceStable(a.Warnings, func(i, j int) bool {
		if a.Warnings[i].File != a.Warnings[j].File {
			return a.Warnings[i].File < a.Warnings[j].File
		}
		return a.Warnings[i].Line < a.Warnings[j].Line
	})
	return a
}

// sidecar reports whether an init container keeps running (restartPolicy
// Always), so its ports serve like a regular container's.
func sidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func (a *Analysis) sig(ports map[string]namedPort) int32 {
	keys := make([]string, 0, len(ports))
	for k, p := range ports {
		keys = append(keys, fmt.Sprintf("%s=%d/%d", k, p.proto, p.port))
	}
	sort.Strings(keys)
	k := strings.Join(keys, ",")
	if id, ok := a.sigs[k]; ok {
		return id
	}
	id := int32(len(a.sigs))
	a.sigs[k] = id
	return id
}

// nameEndpoints gives each workload its ID, adding the kind where two
// kinds share a namespace and name.
func nameEndpoints(es []*Endpoint) {
	count := map[string]int{}
	for _, e := range es {
		count[e.Namespace+"/"+e.Name]++
	}
	seen := map[string]int{}
	for _, e := range es {
		id := e.Namespace + "/" + e.Name
		if count[id] > 1 {
			id = e.Namespace + "/" + e.Kind + "/" + e.Name
		}
		if seen[id]++; seen[id] > 1 {
			id = fmt.Sprintf("%s#%d", id, seen[id])
		}
		e.ID = id
	}
}

// matches reports whether a selector selects labels.
func matches(sel labels.Selector, l map[string]string) bool {
	return sel.Matches(labels.Set(l))
}

func others(names []string, self string) []string {
	var out []string
	for _, n := range names {
		if n != self {
			out = append(out, n)
		}
	}
	return out
}

// builtinNamespaces exist in every cluster, declared or not.
var builtinNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true, "kube-node-lease": true}

// dedupe keeps the last of objects that name the same object: applied
// together, the later one replaces the earlier, so the cluster holds one.
func (a *Analysis) dedupe(objs []*k8s.Object) []*k8s.Object {
	key := func(o *k8s.Object) string { return o.APIVersion + " " + o.Kind + " " + a.nsOf(o) + "/" + o.Name }
	last := make(map[string]*k8s.Object, len(objs))
	for _, o := range objs {
		last[key(o)] = o
	}
	if len(last) == len(objs) {
		return objs
	}
	out := make([]*k8s.Object, 0, len(last))
	for _, o := range objs {
		if l := last[key(o)]; l != o {
			a.warn(o, "defined again at %s:%d; applied together the later one replaces this one, so only it is analysed", l.File, l.Line)
			continue
		}
		out = append(out, o)
	}
	return out
}
