package checks

import (
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func isService(o *Object) bool { return o.Kind == "Service" }

func checkServiceExposure(_ *Env, o *Object) []Failure {
	if o.k8s == nil || o.k8s.Service == nil {
		return nil
	}
	if t := o.k8s.Service.Type; t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer {
		return []Failure{failf(lineAt(o.node, o.Line, "spec", "type"), "service type %s exposes it outside the cluster", t)}
	}
	return nil
}

// namespaceOf treats an unset namespace as "default", as kubectl would.
func namespaceOf(o *Object) string {
	if o.Namespace == "" {
		return "default"
	}
	return o.Namespace
}

// namespaces returns, per namespace used by workloads or declared, a
// synthetic subject object placed at the first document of it.
func namespaces(objs []*Object) ([]string, map[string]*Object) {
	subj := map[string]*Object{}
	var names []string
	note := func(ns string, at *Object) {
		if _, ok := subj[ns]; !ok {
			names = append(names, ns)
			subj[ns] = &Object{File: at.File, Line: at.Line, Kind: "Namespace", Name: ns}
		}
	}
	for _, o := range objs {
		switch {
		case o.Kind == "Namespace":
			note(o.Name, o)
			subj[o.Name].labels, subj[o.Name].annotations = o.labels, o.annotations
		case isWorkload(o):
			note(namespaceOf(o), o)
		}
	}
	sort.Strings(names)
	return names, subj
}

func hasPolicyType(o *Object, t string) bool {
	types, _ := dig(o.raw, "spec", "policyTypes").([]any)
	for _, x := range types {
		if x == t {
			return true
		}
	}
	if len(types) == 0 && t == "Ingress" {
		return true // the API's default
	}
	if len(types) == 0 && t == "Egress" {
		_, ok := dig(o.raw, "spec", "egress").([]any)
		return ok
	}
	return false
}

func selectsAll(o *Object) bool {
	sel, ok := dig(o.raw, "spec", "podSelector").(map[string]any)
	return ok && len(sel) == 0
}

// defaultDeny reports whether a policy selects every pod and denies the
// direction: the type is listed and no rule allows anything.
func defaultDeny(o *Object, dir string) bool {
	if o.Kind != "NetworkPolicy" || !selectsAll(o) || !hasPolicyType(o, dir) {
		return false
	}
	rules, _ := dig(o.raw, "spec", strings.ToLower(dir)).([]any)
	return len(rules) == 0
}

func defaultDenyCheck(dir string) func(*Env, []*Object) []SetOutcome {
	return func(_ *Env, objs []*Object) []SetOutcome {
		names, subj := namespaces(objs)
		var out []SetOutcome
		for _, ns := range names {
			ok := false
			for _, o := range objs {
				if o.Kind == "NetworkPolicy" && namespaceOf(o) == ns && defaultDeny(o, dir) {
					ok = true
				}
			}
			so := SetOutcome{Subject: subj[ns]}
			if !ok {
				so.Failures = []Failure{failf(subj[ns].Line, "namespace %q has no default-deny %s NetworkPolicy (podSelector: {}, policyTypes: [%s], no rules)", ns, strings.ToLower(dir), dir)}
			}
			out = append(out, so)
		}
		return out
	}
}

func isNetworkPolicy(o *Object) bool { return o.Kind == "NetworkPolicy" }

// checkAllowAll flags a policy that selects every pod of its namespace
// and admits all traffic in a direction (an empty rule, a peer selecting
// every namespace, or 0.0.0.0/0): it undoes default-deny for the whole
// namespace. A policy opening one workload (a public frontend) is a
// deliberate exposure and is left to review.
func checkAllowAll(_ *Env, o *Object) []Failure {
	if !selectsAll(o) {
		return nil
	}
	var out []Failure
	for _, dir := range []struct{ key, peers string }{{"ingress", "from"}, {"egress", "to"}} {
		rules, _ := dig(o.raw, "spec", dir.key).([]any)
		seq := nodeAt(o.node, "spec", dir.key)
		for i, r := range rules {
			m, _ := r.(map[string]any)
			peers, hasPeers := m[dir.peers].([]any)
			_, hasPorts := m["ports"]
			if !hasPeers && !hasPorts {
				out = append(out, failf(itemLine(seq, i, o.Line), "%s rule %d allows all traffic for every pod of the namespace", dir.key, i))
				continue
			}
			for _, p := range peers {
				pm, _ := p.(map[string]any)
				ns, nsOK := pm["namespaceSelector"].(map[string]any)
				if nsOK && len(ns) == 0 && len(stringMapAny(pm["podSelector"])) == 0 {
					out = append(out, failf(itemLine(seq, i, o.Line), "%s rule %d admits every pod of every namespace", dir.key, i))
				}
				if ip, ok := pm["ipBlock"].(map[string]any); ok && (ip["cidr"] == "0.0.0.0/0" || ip["cidr"] == "::/0") {
					out = append(out, failf(itemLine(seq, i, o.Line), "%s rule %d allows every address (%v)", dir.key, i, ip["cidr"]))
				}
			}
		}
	}
	return out
}

func stringMapAny(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// checkEgressProxy flags egress that may reach anything but the declared
// proxies. It applies only when proxies are configured.
func checkEgressProxy(env *Env, o *Object) []Failure {
	if len(env.EgressProxies) == 0 || !hasPolicyType(o, "Egress") {
		return nil
	}
	rules, _ := dig(o.raw, "spec", "egress").([]any)
	seq := nodeAt(o.node, "spec", "egress")
	var out []Failure
	for i, r := range rules {
		m, _ := r.(map[string]any)
		to, hasTo := m["to"].([]any)
		if !hasTo {
			if onlyDNS(m) {
				continue
			}
			out = append(out, failf(itemLine(seq, i, o.Line), "egress rule %d allows every destination, not only the egress proxy", i))
			continue
		}
		for _, p := range to {
			pm, _ := p.(map[string]any)
			if ip, ok := pm["ipBlock"].(map[string]any); ok {
				cidr, _ := ip["cidr"].(string)
				if !cidrWithinProxies(cidr, env.EgressProxies) {
					out = append(out, failf(itemLine(seq, i, o.Line), "egress rule %d allows %s, outside the egress proxies %s", i, cidr, strings.Join(env.EgressProxies, ", ")))
				}
			}
		}
	}
	return out
}

// onlyDNS is a rule limited to port 53, which clusters need everywhere.
func onlyDNS(rule map[string]any) bool {
	ports, _ := rule["ports"].([]any)
	if len(ports) == 0 {
		return false
	}
	for _, p := range ports {
		pm, _ := p.(map[string]any)
		if fmt.Sprint(pm["port"]) != "53" {
			return false
		}
	}
	return true
}

func cidrWithinProxies(cidr string, proxies []string) bool {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return false
	}
	for _, p := range proxies {
		_, pn, err := net.ParseCIDR(p)
		if err != nil {
			continue
		}
		ones, _ := n.Mask.Size()
		pones, _ := pn.Mask.Size()
		if pn.Contains(n.IP) && ones >= pones {
			return true
		}
	}
	return false
}

// meshNamespaces are namespaces with Istio sidecar injection.
func meshNamespaces(objs []*Object) map[string]*Object {
	_, subj := namespaces(objs)
	out := map[string]*Object{}
	for _, o := range objs {
		if o.Kind == "Namespace" && (o.labels["istio-injection"] == "enabled" || o.labels["istio.io/rev"] != "") {
			out[o.Name] = subj[o.Name]
		}
		if isWorkload(o) && o.podMeta.annotations["sidecar.istio.io/inject"] == "true" {
			if s := subj[namespaceOf(o)]; s != nil {
				out[namespaceOf(o)] = s
			}
		}
	}
	return out
}

func checkMeshMTLS(_ *Env, objs []*Object) []SetOutcome {
	mesh := meshNamespaces(objs)
	meshWideStrict := false
	strict := map[string]bool{}
	for _, o := range objs {
		if o.Kind != "PeerAuthentication" || o.k8s == nil {
			continue
		}
		pa := o.k8s.PeerAuthentication
		if pa.Mode() != "STRICT" || !pa.NamespaceWide() {
			continue // workload-scoped policies are not the namespace default
		}
		if o.Namespace == "istio-system" {
			meshWideStrict = true
		}
		strict[namespaceOf(o)] = true
	}
	names := make([]string, 0, len(mesh))
	for ns := range mesh {
		names = append(names, ns)
	}
	sort.Strings(names)
	var out []SetOutcome
	for _, ns := range names {
		so := SetOutcome{Subject: mesh[ns]}
		if !strict[ns] && !meshWideStrict {
			so.Failures = []Failure{failf(mesh[ns].Line, "namespace %q is in the Istio mesh without a STRICT PeerAuthentication: plain-text traffic is accepted", ns)}
		}
		out = append(out, so)
	}
	return out
}

// encryptedStorage reports whether a StorageClass's parameters ask for
// encryption with its provisioner.
func encryptedStorage(o *Object) (known, encrypted bool) {
	if o.k8s == nil || o.k8s.StorageClass == nil {
		return false, false
	}
	params := o.k8s.StorageClass.Parameters
	switch o.k8s.StorageClass.Provisioner {
	case "ebs.csi.aws.com", "kubernetes.io/aws-ebs":
		return true, params["encrypted"] == "true" || params["kmsKeyId"] != ""
	case "pd.csi.storage.gke.io", "kubernetes.io/gce-pd":
		return true, params["disk-encryption-kms-key"] != ""
	case "disk.csi.azure.com", "kubernetes.io/azure-disk":
		return true, params["diskEncryptionSetID"] != "" || params["diskEncryptionType"] != ""
	}
	return false, false
}

func checkStorageEncryption(_ *Env, objs []*Object) []SetOutcome {
	var out []SetOutcome
	for _, sc := range objs {
		if sc.Kind != "StorageClass" {
			continue
		}
		known, enc := encryptedStorage(sc)
		if !known {
			continue
		}
		so := SetOutcome{Subject: sc}
		if !enc {
			var users []string
			for _, o := range objs {
				if o.Kind == "PersistentVolumeClaim" && dig(o.raw, "spec", "storageClassName") == sc.Name {
					users = append(users, namespaceOf(o)+"/"+o.Name)
				}
			}
			msg := fmt.Sprintf("StorageClass %q (%v) does not request encryption at rest", sc.Name, sc.k8s.StorageClass.Provisioner)
			if len(users) > 0 {
				msg += "; used by PersistentVolumeClaims " + strings.Join(users, ", ")
			}
			so.Failures = []Failure{failf(sc.Line, "%s", msg)}
		}
		out = append(out, so)
	}
	return out
}

// checkServiceTargets finds Service ports whose targetPort no selected
// container declares. Services selecting no workload in the input are
// left alone: their pods are elsewhere.
func checkServiceTargets(_ *Env, objs []*Object) []SetOutcome {
	var out []SetOutcome
	for _, s := range objs {
		if s.k8s == nil || s.k8s.Service == nil {
			continue
		}
		sel := s.k8s.Service.Selector
		if len(sel) == 0 {
			continue
		}
		var pods []*Object
		for _, o := range objs {
			if isWorkload(o) && namespaceOf(o) == namespaceOf(s) && labelsMatch(sel, o.podMeta.labels) {
				pods = append(pods, o)
			}
		}
		if len(pods) == 0 {
			continue
		}
		so := SetOutcome{Subject: s}
		seq := nodeAt(s.node, "spec", "ports")
		for i, p := range s.k8s.Service.Ports {
			tp := p.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(p.Port) // unset: the port itself
			} else if tp.Type == intstr.String {
				tp = intstr.Parse(tp.StrVal) // "8080" is a number to kubectl users
			}
			if !anyContainerPort(pods, tp) {
				so.Failures = append(so.Failures, failf(itemLine(seq, i, s.Line), "targetPort %s is declared by no container of the workloads the selector matches", tp.String()))
			}
		}
		out = append(out, so)
	}
	return out
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func anyContainerPort(pods []*Object, tp intstr.IntOrString) bool {
	for _, o := range pods {
		for _, cr := range o.containers {
			for _, p := range cr.Ports {
				if tp.Type == intstr.Int && p.ContainerPort == tp.IntVal || tp.Type == intstr.String && p.Name == tp.StrVal {
					return true
				}
			}
		}
	}
	return false
}
