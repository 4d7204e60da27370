package netpol

import (
	"context"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/k8s"
)

const pods = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c, image: x}]}
---
`

// TestBadPolicies: each policy the API server would refuse, or that
// cannot mean what it says, is a warning naming the object, and a refused
// policy is left out (it would not be in force), never a crash.
func TestBadPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, policy, want string
		dbOpen             bool // the refused policy is not in force
	}{
		{"invalid operator", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {matchExpressions: [{key: app, operator: Has, values: [db]}]}, policyTypes: [Ingress]}`, `"Has" is not a valid label selector operator`, true},
		{"In without values", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {matchExpressions: [{key: app, operator: In}]}, policyTypes: [Ingress]}`, "values", true},
		{"except outside cidr", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}]}]}`, "not inside cidr", true},
		{"empty peer", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [{}]}]}`, "a peer must set", true},
		{"endPort with a named port", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: http, endPort: 9000}]}]}`, "endPort may not be set", true},
		{"unknown protocol", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: 80, protocol: ICMP}]}]}`, "not TCP, UDP or SCTP", true},
		{"named port nothing declares", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {matchLabels: {app: db}}, policyTypes: [Ingress], ingress: [{ports: [{port: postgres}]}]}`, `names port "postgres", which no container`, false},
		{"undeclared namespace", `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: other}
spec: {podSelector: {}, policyTypes: [Ingress]}`, `namespace "other" is not declared`, true},
		{"Calico policy", `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {selector: all(), types: [Ingress]}`, "Calico policies are not evaluated yet", true},
		{"baseline not named default", `apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: other}
spec: {subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}`, `must be named "default"`, true},
		{"admin without priority", `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: a}
spec: {subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}]}]}`, "spec.priority must be set", true},
		{"admin unknown field", `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: a}
spec: {priority: 1, subject: {namespaces: {}}, ingress: [{action: Deny, from: [{namespaces: {}}], tls: true}]}`, `spec: unknown field "ingress[0].tls"`, false},
		{"admin Pass in baseline", `apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec: {subject: {namespaces: {}}, ingress: [{action: Pass, from: [{namespaces: {}}]}]}`, "Pass is not allowed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := k8s.Decode("in.yaml", []byte(pods+tc.policy+"\n"))
			if len(d.Errors) > 0 {
				t.Fatalf("decode: %v", d.Errors)
			}
			a := Build(d.Objects, Options{})
			if err := a.Compute(context.Background()); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, w := range a.Warnings {
				if strings.Contains(w.Message, tc.want) && w.File == "in.yaml" && w.Line > 1 && w.Object != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no warning with %q and a location among %v", tc.want, a.Warnings)
			}
			web, _ := a.Find("shop/web")
			db, _ := a.Find("shop/db")
			if got := a.Conn(web, db).IsAll(); got != tc.dbOpen {
				t.Errorf("web -> db open = %v, want %v (%s)", got, tc.dbOpen, a.Conn(web, db))
			}
		})
	}
}

func TestFind(t *testing.T) {
	d := k8s.Decode("in.yaml", []byte(pods+`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]}
`))
	a := Build(d.Objects, Options{})
	if err := a.Compute(context.Background()); err != nil {
		t.Fatal(err)
	}
	web, err := a.Find("web")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{"8.8.8.8": true, "10.1.2.3": false, "2001:db8::1": false} {
		dst, err := a.Find(ip)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Conn(web, dst).IsAll(); got != want {
			t.Errorf("web -> %s (%s): %v, want %v", ip, a.Endpoints[dst].ID, got, want)
		}
	}
	if _, err := a.Find("nope"); err == nil || !strings.Contains(err.Error(), "no workload or address") {
		t.Errorf("Find(nope) = %v", err)
	}
}

// TestDuplicateObjects: the same object in two files is one object in
// the cluster (the later applied wins), with a warning on the earlier.
func TestDuplicateObjects(t *testing.T) {
	d := k8s.Decode("a.yaml", []byte(pods))
	d2 := k8s.Decode("b.yaml", []byte(pods+`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
`))
	a := Build(append(d.Objects, d2.Objects...), Options{})
	if err := a.Compute(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Pods() != 2 {
		t.Errorf("%d workloads, want 2", a.Pods())
	}
	web, err := a.Find("web")
	if err != nil || a.Endpoints[web].File != "b.yaml" {
		t.Fatalf("Find(web) = %v, %v", web, err)
	}
	n := 0
	for _, w := range a.Warnings {
		if w.File == "a.yaml" && strings.Contains(w.Message, "defined again at b.yaml") {
			n++
		}
	}
	if n != 3 { // the namespace and both pods
		t.Errorf("%d duplicate warnings, want 3: %v", n, a.Warnings)
	}
}

// TestTableFormats: a few endpoints make a matrix, more a list per
// sender with the receivers grouped by what they allow.
func TestTableFormats(t *testing.T) {
	small := Build(k8s.Decode("in.yaml", []byte(pods)).Objects, Options{})
	big := Build(synthetic(2, 25, 2), Options{})
	for _, a := range []*Analysis{small, big} {
		if err := a.Compute(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := small.Write(&b, "table"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "FROM \\ TO") || !strings.Contains(b.String(), "1 shop/web") {
		t.Errorf("small table:\n%s", b.String())
	}
	b.Reset()
	if err := big.Write(&b, "table"); err != nil {
		t.Fatal(err)
	}
	// ns0/app1 (tier t1) takes its named port http (8001) and 9000-9100
	// from tier t2 pods of ns0 (policy p1 selects t1, allows from t2).
	for _, want := range []string{"FROM  ", "ALLOWED", "ns0/app2  ", "TCP:8001,9000-9100  ns0/app1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("list lacks %q:\n%.3000s", want, b.String())
		}
	}
}
