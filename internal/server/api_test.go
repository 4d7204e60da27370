package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/verdict"
	"context"
)

type recordingMux struct{ patterns []string }

func (m *recordingMux) HandleFunc(pattern string, _ func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
}

func (ts *testServer) call(t *testing.T, user, pw, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.url+path, bytes.NewReader([]byte(body)))
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		var list []any // a listing: kept under "items"
		if json.Unmarshal(b, &list) == nil {
			out = map[string]any{"items": list}
		}
	}
	return resp.StatusCode, out
}

func TestAPI(t *testing.T) {
	ts := start(t, t.TempDir()+"/bulwark.db")
	const devPW = "developer-pw"
	steps := []struct {
		name, user, pw, method, path, body string
		want                               int
		wantIn                             string // in the JSON error or body
	}{
		{"create user", "admin", adminPW, "POST", "/api/v1/users", `{"name":"dana","password":"` + devPW + `"}`, 201, ""},
		{"duplicate user", "admin", adminPW, "POST", "/api/v1/users", `{"name":"dana","password":"` + devPW + `"}`, 409, "exists"},
		{"short password", "admin", adminPW, "POST", "/api/v1/users", `{"name":"eve","password":"short"}`, 400, "8 characters"},
		{"unknown field", "admin", adminPW, "POST", "/api/v1/users", `{"name":"eve","password":"long-enough","role":"x"}`, 400, "unknown field"},
		{"robot-like user name", "admin", adminPW, "POST", "/api/v1/users", `{"name":"robot$x","password":"long-enough"}`, 400, "invalid user name"},
		{"not an admin", "dana", devPW, "POST", "/api/v1/users", `{"name":"eve","password":"long-enough"}`, 403, "not an administrator"},
		{"anonymous", "", "", "POST", "/api/v1/users", `{}`, 401, "log in"},
		{"wrong password", "dana", "nope-nope", "POST", "/api/v1/users", `{}`, 401, "invalid"},
		{"make dana a developer", "admin", adminPW, "PUT", "/api/v1/projects/shop/members/dana", `{"role":"developer"}`, 200, ""},
		{"unknown role", "admin", adminPW, "PUT", "/api/v1/projects/shop/members/dana", `{"role":"owner"}`, 400, "want guest"},
		{"unknown member", "admin", adminPW, "PUT", "/api/v1/projects/shop/members/zed", `{"role":"guest"}`, 404, "no user"},
		{"developer sets policy", "dana", devPW, "PUT", "/api/v1/projects/shop/policy", `{"blockSeverity":"high"}`, 403, "not an administrator of project shop"},
		{"invalid policy", "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", `{"blockSeverity":"extreme"}`, 400, "blockSeverity"},
		{"policy with an unknown key", "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", `{"block":"high"}`, 400, "unknown field"},
		{"signature without keys", "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", `{"requireSignature":true}`, 400, "at least one key"},
		{"set policy", "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", `{"blockSeverity":"high","unscanned":"allow"}`, 200, ""},
		{"read policy", "dana", devPW, "GET", "/api/v1/projects/shop/policy", ``, 200, `"high"`},
		{"robot for shop", "admin", adminPW, "POST", "/api/v1/robots", `{"name":"ci","scopes":["shop:pull,push"],"expiresIn":"720h"}`, 201, "token"},
		{"robot without expiry", "admin", adminPW, "POST", "/api/v1/robots", `{"name":"ci2","scopes":["shop:pull"]}`, 400, "expiresIn"},
		{"robot with a bad action", "admin", adminPW, "POST", "/api/v1/robots", `{"name":"ci3","scopes":["shop:admin"],"expiresIn":"1h"}`, 400, "action"},
		{"developer makes a robot", "dana", devPW, "POST", "/api/v1/robots", `{"name":"ci4","scopes":["shop:pull"],"expiresIn":"1h"}`, 403, "not an administrator"},
		{"unknown scan", "admin", adminPW, "GET", "/api/v1/scans/sha256:" + strings.Repeat("0", 64), ``, 404, "no scan"},
		{"rescan", "admin", adminPW, "POST", "/api/v1/rescan", ``, 202, `"queued":0`},
		{"rescan by a developer", "dana", devPW, "POST", "/api/v1/rescan", ``, 403, ""},
		{"anonymous reads a policy", "", "", "GET", "/api/v1/projects/shop/policy", ``, 401, "log in"},
		{"list users", "admin", adminPW, "GET", "/api/v1/users", ``, 200, `"name":"dana"`},
		{"developer lists users", "dana", devPW, "GET", "/api/v1/users", ``, 403, "not an administrator"},
		{"anonymous lists users", "", "", "GET", "/api/v1/users", ``, 401, "log in"},
		{"list robots", "admin", adminPW, "GET", "/api/v1/robots", ``, 200, `"name":"robot$ci"`},
		{"anonymous lists robots", "", "", "GET", "/api/v1/robots", ``, 401, "log in"},
	}
	var robotToken string
	for _, st := range steps {
		code, body := ts.call(t, st.user, st.pw, st.method, st.path, st.body)
		raw, _ := json.Marshal(body)
		if code != st.want || !strings.Contains(string(raw), st.wantIn) {
			t.Errorf("%s: %d %s, want %d with %q", st.name, code, raw, st.want, st.wantIn)
		}
		if st.name == "robot for shop" {
			robotToken, _ = body["token"].(string)
		}
	}
	// The robot's token pushes to shop, and the push is scanned (queued).
	ref, _ := name.ParseReference(ts.host + "/shop/robot:1")
	img, _ := random.Image(256, 1)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "robot$ci", Password: robotToken})); err != nil {
		t.Fatalf("robot push: %v", err)
	}
	d, _ := img.Digest()
	if code, body := ts.call(t, "dana", devPW, "GET", "/api/v1/scans/"+d.String(), ""); code != 202 || body["state"] != "queued" {
		t.Errorf("scan of a pushed image: %d %v", code, body)
	}
	// The admission webhook (admission serve --server --user) reads that
	// scan as the robot; anonymously it is not there; and a bearer token
	// is refused, never taken for an anonymous caller.
	sub := &verdict.Subject{}
	if err := (&admission.APIScans{URL: ts.url, User: "robot$ci", Token: robotToken}).Scan(context.Background(), d.String(), sub); err != nil || sub.ScanState != "queued" {
		t.Errorf("the robot's scan read: %v, state %q", err, sub.ScanState)
	}
	if sub := (&verdict.Subject{}); (&admission.APIScans{URL: ts.url}).Scan(context.Background(), d.String(), sub) != nil || sub.ScanState != "" {
		t.Errorf("an anonymous read of a private scan: state %q", sub.ScanState)
	}
	breq, _ := http.NewRequest("GET", ts.url+"/api/v1/scans/"+d.String(), nil)
	breq.Header.Set("Authorization", "Bearer "+robotToken)
	if resp, err := http.DefaultClient.Do(breq); err != nil {
		t.Fatal(err)
	} else if resp.StatusCode != 401 {
		t.Errorf("a bearer token on the API: %d, want 401", resp.StatusCode)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "Basic credentials only") {
			t.Errorf("the refusal does not say what to send: %s", b)
		}
	}
	// To whoever may not pull shop, that scan and one that does not
	// exist look the same.
	ts.user(t, "outsider", "outsider-password", "", "")
	missing := "sha256:" + strings.Repeat("1", 64)
	for _, who := range [][2]string{{"", ""}, {"outsider", "outsider-password"}} {
		c1, b1 := ts.call(t, who[0], who[1], "GET", "/api/v1/scans/"+d.String(), "")
		c2, b2 := ts.call(t, who[0], who[1], "GET", "/api/v1/scans/"+missing, "")
		e1, _ := b1["error"].(string)
		e2, _ := b2["error"].(string)
		if c1 != 404 || c1 != c2 || strings.ReplaceAll(e1, d.String(), "D") != strings.ReplaceAll(e2, missing, "D") || strings.Contains(e1, "shop") {
			t.Errorf("%q: a private scan (%d %v) and a missing one (%d %v) differ", who[0], c1, b1, c2, b2)
		}
	}
	// Revocation takes effect at once: the robot's Basic login and the
	// bearer token it was issued both stop working.
	req, _ := http.NewRequest("GET", ts.url+"/auth/token?service=bulwark&scope=repository:shop/robot:pull", nil)
	req.SetBasicAuth("robot$ci", robotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	bearer := func() int {
		req, _ := http.NewRequest("GET", ts.url+"/v2/shop/robot/manifests/1", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := bearer(); code == 401 {
		t.Fatalf("the robot's token does not work before revocation: %d", code)
	}
	if code, body := ts.call(t, "dana", devPW, "DELETE", "/api/v1/robots/ci", ""); code != 403 {
		t.Errorf("developer revokes: %d %v", code, body)
	}
	if code, body := ts.call(t, "admin", adminPW, "DELETE", "/api/v1/robots/ci", ""); code != 204 {
		t.Fatalf("revoke: %d %v", code, body)
	}
	if code, _ := ts.call(t, "admin", adminPW, "DELETE", "/api/v1/robots/ci", ""); code != 404 {
		t.Errorf("revoke twice: %d", code)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "robot$ci", Password: robotToken})); err == nil {
		t.Error("a revoked robot still pushes")
	}
	if code := bearer(); code != 401 {
		t.Errorf("a revoked robot's token still works: %d", code)
	}
}

// TestOpenAPICoversRoutes: docs/openapi.yaml documents exactly the API
// routes the server registers, with the same methods.
func TestOpenAPICoversRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	mux := &recordingMux{}
	(&Server{}).routeAPI(mux)
	served := map[string]bool{}
	for _, p := range mux.patterns {
		served[p] = true
		if !documented[p] {
			t.Errorf("%s is served but not in docs/openapi.yaml", p)
		}
	}
	for p := range documented {
		if !served[p] {
			t.Errorf("%s is documented but not served", p)
		}
	}
}

// TestEveryRefusalIsOnTheRecord: API refusals, token requests for
// actions the caller may not take (and the refusals that follow their
// use), catalog refusals and Basic logins are all in the audit trail,
// and a restart records only what happened.
func TestEveryRefusalIsOnTheRecord(t *testing.T) {
	data := t.TempDir()
	dsn := filepath.Join(t.TempDir(), "b.db")
	open := func() *testServer {
		s, err := New(context.Background(), Config{DataDir: data, Database: dsn, AdminPassword: adminPW, DefaultPolicy: `{"blockSeverity":"none","unscanned":"allow"}`})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return serveHTTP(t, s)
	}
	ts := open()
	ts.user(t, "gus", "guest-password", "shop", "guest")
	ts.call(t, "gus", "guest-password", "POST", "/api/v1/users", `{"name":"eve","password":"long-enough","admin":true}`)
	ts.call(t, "gus", "guest-password", "PUT", "/api/v1/projects/shop/policy", `{"blockSeverity":"none"}`)
	get := func(path, user, pw, bearer string) *http.Response {
		req, _ := http.NewRequest("GET", ts.url+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("/auth/token?service=bulwark&scope=repository:shop/app:pull,push", "gus", "guest-password", "")
	var tok struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest("PUT", ts.url+"/v2/shop/app/manifests/1", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	get("/v2/_catalog", "gus", "guest-password", "").Body.Close()
	get("/v2/", "gus", "guest-password", "").Body.Close()
	ts.Close()
	ts = open() // a restart with BULWARK_ADMIN_PASSWORD still set

	got := map[string]int{}
	ts.store.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		k := r.Actor + " " + r.Action + " " + r.Object + " " + r.Outcome
		if r.Action == "auth.login" && r.Object == "token" {
			k += " " + r.Detail[strings.Index(r.Detail, `"granted"`):strings.Index(r.Detail, `"remote"`)]
		}
		got[k]++
		return nil
	})
	for _, want := range []string{
		"gus api.deny POST /api/v1/users denied",
		"gus api.deny PUT /api/v1/projects/{project}/policy denied",
		`gus auth.login token success "granted":["repository:shop/app:pull"],`,
		"gus auth.deny token denied",
		"gus auth.deny shop/app denied",
		"gus auth.deny registry:catalog denied",
		"gus auth.login api success", // Basic, once per user and source every few minutes
	} {
		if got[want] == 0 {
			t.Errorf("no %q in the trail", want)
		}
	}
	if n := got["system user.create admin success"]; n != 1 {
		t.Errorf("%d user.create admin records after a restart, want 1", n)
	}
}
