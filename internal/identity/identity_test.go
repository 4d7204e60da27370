package identity

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

func TestTokens(t *testing.T) {
	tk := &Tokens{Secret: []byte(strings.Repeat("s", 43)), Service: "bulwark"}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	access := []Access{{Type: "repository", Name: "shop/app", Actions: []string{"pull"}}}
	tok, err := tk.Issue(&Principal{Name: "dana"}, access, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Parse(tok, now.Add(time.Minute))
	if err != nil || c.Subject != "dana" || !c.Grants("shop/app", "pull") || c.Grants("shop/app", "push") || c.Grants("shop/other", "pull") {
		t.Fatalf("parse: %+v %v", c, err)
	}
	parts := strings.Split(tok, ".")
	tests := map[string]struct {
		tok string
		at  time.Time
	}{
		"expired":         {tok, now.Add(6 * time.Minute)},
		"not yet valid":   {tok, now.Add(-2 * time.Minute)},
		"altered claims":  {parts[0] + "." + parts[1][:len(parts[1])-2] + "AA." + parts[2], now},
		"altered mac":     {parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), now},
		"other algorithm": {"eyJhbGciOiJub25lIn0." + parts[1] + ".", now},
		"not a token":     {"garbage", now},
		"empty":           {"", now},
		"another service": {mustIssue(t, &Tokens{Secret: tk.Secret, Service: "other"}, now), now},
		"another secret":  {mustIssue(t, &Tokens{Secret: []byte(strings.Repeat("x", 43)), Service: "bulwark"}, now), now},
	}
	for name, tc := range tests {
		if _, err := tk.Parse(tc.tok, tc.at); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func mustIssue(t *testing.T, tk *Tokens, now time.Time) string {
	tok, err := tk.Issue(&Principal{Name: "x", Admin: true}, []Access{{Type: "repository", Name: "shop/app", Actions: []string{"push"}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want Access
		err  bool
	}{
		{"repository:shop/app:pull,push", Access{"repository", "shop/app", []string{"pull", "push"}}, false},
		{"repository:localhost:5000/x:pull", Access{"repository", "localhost:5000/x", []string{"pull"}}, false},
		{"registry:catalog:*", Access{"registry", "catalog", []string{"*"}}, false},
		{"repository:app:", Access{"repository", "app", nil}, false},
		{"repository", Access{}, true},
		{"repository::pull", Access{}, true},
		{":x:pull", Access{}, true},
	}
	for _, tc := range tests {
		got, err := ParseScope(tc.in)
		if (err != nil) != tc.err || !cmp.Equal(got, tc.want) {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	f.Add("repository:shop/app:pull,push")
	f.Add("registry:catalog:*")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseScope(s)
		if err == nil && (a.Type == "" || a.Name == "") {
			t.Fatalf("%q parsed to %+v", s, a)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	tk := &Tokens{Secret: []byte(strings.Repeat("s", 43)), Service: "bulwark"}
	now := time.Unix(1_800_000_000, 0)
	good, _ := tk.Issue(&Principal{Name: "a"}, nil, now)
	f.Add(good)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		// Whatever parses must carry our MAC over its exact bytes (each
		// fuzz worker issues its own good token, so compare MACs, not
		// strings).
		c, err := tk.Parse(s, now)
		if err != nil {
			return
		}
		i := strings.LastIndex(s, ".")
		if sig, derr := base64.RawURLEncoding.DecodeString(s[i+1:]); derr != nil || !hmac.Equal(sig, tk.mac(s[:i])) || c.Audience != "bulwark" {
			t.Fatalf("a forged token parsed: %q %+v", s, c)
		}
	})
}

// TestAllowed: what each kind of caller may do, on both stores.
func TestAllowed(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := &Authenticator{Store: st}
		st.SetMember(ctx, "shop", "dev", "developer")
		st.SetMember(ctx, "shop", "ops", "maintainer")
		st.EnsureProject(ctx, "pub", true)
		all := []string{Pull, Push, Delete}
		tests := []struct {
			name string
			p    *Principal
			repo string
			want []string
		}{
			{"admin", &Principal{Name: "root", Admin: true}, "any/thing", all},
			{"developer", &Principal{Name: "dev"}, "shop/app", []string{Pull, Push}},
			{"maintainer", &Principal{Name: "ops"}, "shop/app/deep", all},
			{"developer elsewhere", &Principal{Name: "dev"}, "other/app", nil},
			{"anonymous, private", nil, "shop/app", nil},
			{"anonymous, public", nil, "pub/base", []string{Pull}},
			{"robot in scope", &Principal{Name: "robot$ci", Robot: true, Scopes: []string{"shop:pull,push"}}, "shop/x", []string{Pull, Push}},
			{"robot out of scope", &Principal{Name: "robot$ci", Robot: true, Scopes: []string{"shop:pull"}}, "shopping/x", nil},
			{"project prefix is not a project", &Principal{Name: "dev"}, "shopx/app", nil},
		}
		for _, tc := range tests {
			got, err := a.Allowed(ctx, tc.p, tc.repo, all)
			if err != nil || !cmp.Equal(got, tc.want) {
				t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
			}
		}
	})
}

// TestLogin: users and robots log in; a changed password takes effect
// when the cache entry ends; expired robots do not.
func TestLogin(t *testing.T) {
	st := storetest.Open(t, filepath.Join(t.TempDir(), "b.db"))
	ctx := context.Background()
	h, _ := HashPassword("first-password")
	st.CreateUser(ctx, store.User{Name: "dana", PasswordHash: h})
	tok := RandomSecret(24)
	st.CreateRobot(ctx, store.Robot{Name: "robot$ci", TokenHash: TokenHash(tok), Scopes: []string{"shop:pull"}, Expires: time.Now().Add(time.Hour)})
	st.CreateRobot(ctx, store.Robot{Name: "robot$old", TokenHash: TokenHash(tok), Scopes: []string{"shop:pull"}, Expires: time.Now().Add(-time.Second)})
	a := &Authenticator{Store: st}
	if p, err := a.Login(ctx, "dana", "first-password"); err != nil || p.Name != "dana" || p.Admin {
		t.Fatalf("login: %+v %v", p, err)
	}
	for _, bad := range [][2]string{{"dana", "wrong"}, {"nobody", "first-password"}, {"robot$old", tok}, {"robot$ci", tok + "x"}, {"robot$none", tok}} {
		if _, err := a.Login(ctx, bad[0], bad[1]); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v", bad[0], err)
		}
	}
	if p, err := a.Login(ctx, "robot$ci", tok); err != nil || !p.Robot {
		t.Errorf("robot: %+v %v", p, err)
	}
	// Changes apply at once, cache or not: a new password, a revoked
	// robot, a robot whose expiry passes (an injected clock).
	h2, _ := HashPassword("second-password")
	st.SetPassword(ctx, "dana", h2)
	if _, err := a.Login(ctx, "dana", "first-password"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("the old password right after the change: %v", err)
	}
	if _, err := a.Login(ctx, "dana", "second-password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	now := time.Now()
	a.Now = func() time.Time { return now }
	a.CacheTTL = time.Hour
	if _, err := a.Login(ctx, "robot$ci", tok); err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Minute)
	if _, err := a.Login(ctx, "robot$ci", tok); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a robot past its expiry, from the cache: %v", err)
	}
	now = now.Add(-61 * time.Minute)
	st.DeleteRobot(ctx, "robot$ci")
	if _, err := a.Login(ctx, "robot$ci", tok); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a revoked robot, from the cache: %v", err)
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
}
