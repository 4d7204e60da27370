package netpol

import (
	"context"
	"testing"

	"bulwark.dev/bulwark/internal/k8s"
)

// FuzzAnalyze: any manifest stream is analysed without a panic, and the
// connection from a pod to itself is never larger than everything.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte(pods + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 80, endPort: 90}]}]}\n"))
	f.Add([]byte(pods + "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\nspec: {priority: 1, subject: {namespaces: {}}, egress: [{action: Pass, to: [{networks: [1.2.3.0/24]}], ports: [{namedPort: http}]}]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := k8s.Decode("f.yaml", b)
		a := Build(d.Objects, Options{})
		if len(a.Endpoints) > 200 {
			return
		}
		if err := a.Compute(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := range a.Endpoints {
			if c := a.Conn(i, i); !c.Union(All).IsAll() {
				t.Fatalf("conn %s", c)
			}
		}
	})
}
