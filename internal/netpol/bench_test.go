package netpol

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/k8s"
)

// synthetic is a cluster of the size the issue names: 200 namespaces of
// 25 workloads, 10 policies per namespace (a default deny, allows by pod
// label, from a team's namespaces by label, to ports and named ports,
// egress to DNS and to CIDRs), so most pairs are decided by several
// rules.
func synthetic(namespaces, perNS, policiesPerNS int) []*k8s.Object {
	var b strings.Builder
	for n := range namespaces {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns%d, labels: {team: t%d}}\n---\n", n, n%10)
		for p := range perNS {
			fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app%d, namespace: ns%d}\nspec:\n  template:\n    metadata: {labels: {app: app%d, tier: t%d}}\n    spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: %d}]}]}\n---\n", p, n, p, p%5, 8000+p)
		}
		fmt.Fprintf(&b, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: ns%d}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n---\n", n)
		for k := 1; k < policiesPerNS; k++ {
			fmt.Fprintf(&b, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p%d, namespace: ns%d}
spec:
  podSelector: {matchLabels: {tier: t%d}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {tier: t%d}}}, {namespaceSelector: {matchLabels: {team: t%d}}, podSelector: {matchExpressions: [{key: app, operator: In, values: [app%d, app%d]}]}}]
    ports: [{port: http}, {port: 9000, endPort: 9100}]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: app%d}}}]
  - to: [{ipBlock: {cidr: 10.%d.0.0/16, except: [10.%d.1.0/24]}}]
    ports: [{port: 443}]
---
`, k, n, k%5, (k+1)%5, (n+k)%10, k, k+1, k%25, n%250, n%250)
		}
	}
	d := k8s.Decode("synthetic.yaml", []byte(b.String()))
	if len(d.Errors) > 0 {
		panic(d.Errors[0].Error())
	}
	return d.Objects
}

// Reachability scales with the square of the workloads: 1,000 and 5,000
// of them, 10 policies per 25 workloads.
func BenchmarkReachability(b *testing.B) {
	for _, n := range []int{40, 200} {
		objs := synthetic(n, 25, 10)
		b.Run(fmt.Sprintf("%dpods", n*25), func(b *testing.B) {
			for b.Loop() {
				a := Build(objs, Options{})
				if err := a.Compute(context.Background()); err != nil {
					b.Fatal(err)
				}
				if a.Pods() != n*25 || len(a.Policies) != n*10 {
					b.Fatalf("%d pods, %d policies", a.Pods(), len(a.Policies))
				}
			}
		})
	}
}
