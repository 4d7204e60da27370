package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
)

const adminPW = "admin-password-for-tests"

type testServer struct {
	*Server
	url, host string
}

func start(t *testing.T, dsn string) *testServer {
	t.Helper()
	// Access control only: the gate lets every image through.
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: dsn, AdminPassword: adminPW,
		DefaultPolicy: `{"blockSeverity":"none","unscanned":"allow"}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return serveHTTP(t, s)
}

func serveHTTP(t *testing.T, s *Server) *testServer {
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &testServer{Server: s, url: hs.URL, host: strings.TrimPrefix(hs.URL, "http://")}
}

func (ts *testServer) user(t *testing.T, name, pw, project, role string) {
	t.Helper()
	h, err := identity.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ts.store.CreateUser(ctx, store.User{Name: name, PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	if role != "" {
		if err := ts.store.SetMember(ctx, project, name, role); err != nil {
			t.Fatal(err)
		}
	}
}

func status(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	if err == nil {
		return 200
	}
	return -1
}

// TestRegistryAccess drives the registry the way docker and crane do
// (bearer tokens from /auth/token after a 401 challenge) and checks each
// role, a robot account, anonymous access and bad credentials.
func TestRegistryAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := start(t, dsn)
		ts.user(t, "dev", "dev-password-1", "shop", "developer")
		ts.user(t, "guest", "guest-password", "shop", "guest")
		ts.user(t, "outsider", "outsider-pass", "", "")
		robotToken := identity.RandomSecret(24)
		ctx := context.Background()
		ts.store.CreateRobot(ctx, store.Robot{Name: "robot$ci", TokenHash: identity.TokenHash(robotToken), Scopes: []string{"shop:pull,push"}, Expires: time.Now().Add(time.Hour)})
		ts.store.CreateRobot(ctx, store.Robot{Name: "robot$old", TokenHash: identity.TokenHash(robotToken), Scopes: []string{"shop:pull,push"}, Expires: time.Now().Add(-time.Hour)})
		img, _ := random.Image(512, 2)
		as := func(user, pw string) remote.Option {
			if user == "" {
				return remote.WithAuth(authn.Anonymous)
			}
			return remote.WithAuth(&authn.Basic{Username: user, Password: pw})
		}
		ref := func(r string) name.Reference {
			n, err := name.ParseReference(ts.host + "/" + r)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		tests := []struct {
			name, user, pw, op, repo string
			want                     int
		}{
			{"admin pushes anywhere", "admin", adminPW, "push", "shop/app:1", 200},
			{"developer pushes to its project", "dev", "dev-password-1", "push", "shop/app:2", 200},
			{"developer pulls", "dev", "dev-password-1", "pull", "shop/app:1", 200},
			{"developer cannot push elsewhere", "dev", "dev-password-1", "push", "other/app:1", 401},
			{"guest pulls", "guest", "guest-password", "pull", "shop/app:1", 200},
			{"guest cannot push", "guest", "guest-password", "push", "shop/app:3", 401},
			{"outsider cannot pull", "outsider", "outsider-pass", "pull", "shop/app:1", 401},
			{"anonymous cannot pull a private project", "", "", "pull", "shop/app:1", 401},
			{"wrong password", "dev", "wrong-password", "pull", "shop/app:1", 401},
			{"unknown user", "nobody", "whatever-pass", "pull", "shop/app:1", 401},
			{"robot within scope", "robot$ci", robotToken, "push", "shop/robot:1", 200},
			{"robot outside scope", "robot$ci", robotToken, "push", "other/robot:1", 401},
			{"expired robot", "robot$old", robotToken, "pull", "shop/app:1", 401},
		}
		for _, tc := range tests {
			var err error
			switch tc.op {
			case "push":
				err = remote.Write(ref(tc.repo), img, as(tc.user, tc.pw))
			case "pull":
				_, err = remote.Image(ref(tc.repo), as(tc.user, tc.pw))
			}
			if got := status(err); got != tc.want {
				t.Errorf("%s: status %d (%v), want %d", tc.name, got, err, tc.want)
			}
		}
		// Public projects are pullable anonymously, still not pushable.
		ts.store.EnsureProject(ctx, "pub", true)
		if err := remote.Write(ref("pub/base:1"), img, as("admin", adminPW)); err != nil {
			t.Fatal(err)
		}
		ts.store.SetPublic(ctx, "pub", true)
		if _, err := remote.Image(ref("pub/base:1"), as("", "")); err != nil {
			t.Errorf("anonymous pull of a public project: %v", err)
		}
		if err := remote.Write(ref("pub/base:2"), img, as("", "")); status(err) != 401 {
			t.Errorf("anonymous push to a public project: %v", err)
		}
	})
}

// TestBasicAndBearerDirect: Basic credentials work on every request;
// 403 DENIED (not 401) tells a logged-in user the role is missing; a
// forged token is refused.
func TestBasicAndBearerDirect(t *testing.T) {
	ts := start(t, t.TempDir()+"/bulwark.db")
	ts.user(t, "guest", "guest-password", "shop", "guest")
	do := func(method, path string, set func(*http.Request)) *http.Response {
		req, _ := http.NewRequest(method, ts.url+path, nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := do("GET", "/v2/", func(*http.Request) {})
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="`+ts.url+`/auth/token"`) {
		t.Errorf("anonymous /v2/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := do("GET", "/v2/", func(r *http.Request) { r.SetBasicAuth("admin", adminPW) }); resp.StatusCode != 200 {
		t.Errorf("admin /v2/: %d", resp.StatusCode)
	}
	if resp := do("POST", "/v2/shop/app/blobs/uploads/", func(r *http.Request) { r.SetBasicAuth("guest", "guest-password") }); resp.StatusCode != 403 {
		t.Errorf("guest push with Basic: %d, want 403", resp.StatusCode)
	}
	if resp := do("GET", "/v2/_catalog", func(r *http.Request) { r.SetBasicAuth("guest", "guest-password") }); resp.StatusCode != 403 {
		t.Errorf("guest catalog: %d", resp.StatusCode)
	}
	forged, _ := (&identity.Tokens{Secret: []byte(strings.Repeat("k", 43)), Service: "bulwark"}).Issue(&identity.Principal{Name: "admin", Admin: true},
		[]identity.Access{{Type: "repository", Name: "shop/app", Actions: []string{"push"}}}, time.Now())
	if resp := do("POST", "/v2/shop/app/blobs/uploads/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+forged) }); resp.StatusCode != 401 {
		t.Errorf("forged token: %d", resp.StatusCode)
	}
	if resp := do("GET", "/auth/token?scope=repository:shop/app:pull", func(r *http.Request) { r.SetBasicAuth("guest", "wrong") }); resp.StatusCode != 401 {
		t.Errorf("token with a wrong password: %d", resp.StatusCode)
	}
	// The metrics count what happened, by route and status.
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`bulwark_http_requests_total{route="registry_base",code="401"} 1`, `bulwark_http_requests_total{route="registry_blobs_uploads",code="403"} 1`,
		`bulwark_http_requests_total{route="registry_catalog",code="403"} 1`, `bulwark_http_requests_total{route="token",code="401"} 1`,
		`bulwark_http_request_duration_seconds_bucket{route="registry_base",le="+Inf"} 2`, "# TYPE bulwark_uptime_seconds gauge"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

// TestBootstrapOnce: the first start creates admin (password generated
// when none is given, reported once); a restart creates nothing.
func TestBootstrapOnce(t *testing.T) {
	dir := t.TempDir()
	var shown []string
	for i := 0; i < 2; i++ {
		s, err := New(context.Background(), Config{DataDir: dir, OnAdminPassword: func(pw string) { shown = append(shown, pw) }})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if len(shown) != 1 || len(shown[0]) < 20 {
		t.Fatalf("generated passwords shown: %q", shown)
	}
	s, err := New(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.auth.Login(context.Background(), "admin", shown[0]); err != nil {
		t.Errorf("the generated password does not log in: %v", err)
	}
}

// TestStrangersCannotFloodOrForgeTheAudit: failed logins with huge,
// line-breaking user names are capped per record and rate-limited per
// source; an unvalidated repository name never reaches the challenge
// (no second realm) or the trail; a quote in the Host header stays
// inside its quoted-string.
func TestStrangersCannotFloodOrForgeTheAudit(t *testing.T) {
	ts := start(t, filepath.Join(t.TempDir(), "b.db"))
	huge := strings.Repeat("A", 700000) + "\nadmin logged in"
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("GET", ts.url+"/v2/", nil)
		req.SetBasicAuth(huge, "wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	failures, bytes := 0, 0
	ts.store.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		if r.Action == "auth.login" && r.Outcome == "failure" {
			failures++
			bytes += len(r.Actor) + len(r.Detail)
			if strings.Contains(r.Actor, "\n") {
				t.Errorf("a line break reached the trail: %q", r.Actor[len(r.Actor)-40:])
			}
		}
		return nil
	})
	if failures != limitPerWindow || bytes > 20*1024 {
		t.Errorf("%d failed-login records, %d bytes; want %d records, a few KiB", failures, bytes, limitPerWindow)
	}
	// The window's suppressed failures are accounted once it ends.
	ts.limits.mu.Lock()
	for _, w := range ts.limits.windows {
		w.start = w.start.Add(-2 * limitWindowLen)
	}
	ts.limits.mu.Unlock()
	ts.flushLimits(context.Background())
	suppressed := ""
	ts.store.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		if r.Action == "audit.suppressed" {
			suppressed = r.Detail
		}
		return nil
	})
	if !strings.Contains(suppressed, `"count":10`) {
		t.Errorf("suppressed failures not accounted: %q", suppressed)
	}

	req, _ := http.NewRequest("GET", ts.url+`/v2/shop%22,realm=%22http:%2f%2fevil.example%2fauth%22,x=%22/tags/list`, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 400 || strings.Contains(ch, "evil") {
		t.Errorf("injected name: %d, challenge %q", resp.StatusCode, ch)
	}
	// A Host header with quotes, sent raw: Go's server refuses it, or the
	// quote stays escaped inside the realm.
	conn, err := net.Dial("tcp", ts.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v2/ HTTP/1.1\r\nHost: x\",realm=\"http://evil.example/auth\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	if strings.Contains(string(raw), `realm="http://evil.example`) {
		t.Errorf("the Host header added a realm:\n%s", raw)
	}
}

// TestDataDirectoryIsPrivate: every file bulwark makes in its data
// directory is 0600 and every directory 0700, under any umask and in an
// empty directory that existed before; a data directory or database with
// data that others can read refuses to start, saying how to fix it.
func TestDataDirectoryIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	os.Mkdir(data, 0o755) // made by the administrator, empty
	ts := startIn(t, data)
	img, _ := random.Image(256, 1)
	r, _ := name.ParseReference(ts.host + "/shop/app:1")
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})); err != nil {
		t.Fatal(err)
	}
	ts.Close()
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if strings.HasSuffix(p, ".pub") || strings.HasSuffix(p, ".crt") {
			want = 0o644 // public halves
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	for _, tc := range []struct {
		chmod string
		mode  fs.FileMode
		want  string
	}{
		{data, 0o755, "chmod 700"},
		{filepath.Join(data, "bulwark.db"), 0o644, "chmod 600"},
	} {
		os.Chmod(tc.chmod, tc.mode)
		_, err := New(context.Background(), Config{DataDir: data, AdminPassword: adminPW})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s at %04o: %v, want a refusal saying %q", tc.chmod, tc.mode, err, tc.want)
		}
		os.Chmod(tc.chmod, map[bool]fs.FileMode{true: 0o700, false: 0o600}[tc.chmod == data])
	}
}

func startIn(t *testing.T, dataDir string) *testServer {
	t.Helper()
	s, err := New(context.Background(), Config{DataDir: dataDir, AdminPassword: adminPW, DefaultPolicy: `{"blockSeverity":"none","unscanned":"allow"}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return serveHTTP(t, s)
}
