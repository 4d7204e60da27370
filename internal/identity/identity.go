// Package identity authenticates registry and API callers (users with
// passwords, robot accounts with tokens, Docker registry bearer tokens)
// and decides what they may do: projects are the first path segment of a
// repository, and a role in a project grants actions on it.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"bulwark.dev/bulwark/internal/store"
)

// Actions on a repository.
const (
	Pull   = "pull"
	Push   = "push"
	Delete = "delete"
	// Report is a watch agent's: sending runtime alerts (scope "*:report").
	Report = "report"
)

// Roles grant actions in a project, each including the ones before.
var Roles = map[string][]string{
	"guest":      {Pull},
	"developer":  {Pull, Push},
	"maintainer": {Pull, Push, Delete},
	"admin":      {Pull, Push, Delete},
}

// RobotPrefix starts every robot account name, so a robot can never be
// mistaken for (or named like) a user.
const RobotPrefix = "robot$"

// Principal is an authenticated caller. A nil *Principal is anonymous.
type Principal struct {
	Name  string
	Admin bool
	// Robot accounts act only within Scopes ("project:pull,push").
	Robot  bool
	Scopes []string
	// Expires is a robot's expiry: tokens issued to it end no later.
	Expires time.Time
}

// ErrUnauthorized is a failed login: unknown user, wrong password,
// expired or unknown robot token. It never says which.
var ErrUnauthorized = errors.New("invalid username or password")

// Project is the project a repository belongs to: its first path segment.
func Project(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}

// MinPassword is the shortest password accepted.
const MinPassword = 8

// ErrShortPassword refuses a password shorter than MinPassword.
var ErrShortPassword = errors.New("a password needs at least 8 characters")

// HashPassword hashes a password for storage (bcrypt).
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPassword {
		return "", ErrShortPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// RandomSecret returns n random bytes, base64url-encoded (passwords,
// robot tokens, signing keys).
func RandomSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash is how a robot token is stored: its SHA-256 (the token is
// random and long, so a slow hash adds nothing).
func TokenHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// Authenticator checks credentials against the store. Successful logins
// are remembered briefly (by a hash of the credentials, never the
// password), because registry clients send Basic credentials on every
// request and bcrypt is deliberately slow.
type Authenticator struct {
	Store *store.Store
	// CacheTTL bounds how long a verified secret is trusted without
	// comparing it again (default one minute); the account itself is read
	// on every login.
	CacheTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cachedLogin
}

type cachedLogin struct {
	// hash is the stored password or token hash the secret was checked
	// against: the account is read on every login, and a changed hash (a
	// new password, a deleted or revoked account) misses the cache at once,
	// on every replica.
	hash    string
	expires time.Time
}

// Login authenticates a user name and password (or a robot name and
// token). The account is read from the store every time, so deletion,
// revocation, expiry and password changes apply at once; only the bcrypt
// comparison is cached.
func (a *Authenticator) Login(ctx context.Context, name, secret string) (*Principal, error) {
	now := a.now()
	p, hash, expires, err := a.account(ctx, name, now)
	if err != nil {
		if errors.Is(err, ErrUnauthorized) && !strings.HasPrefix(name, RobotPrefix) {
			// Spend the same time as a wrong password, so a response time
			// does not tell which user names exist.
			bcrypt.CompareHashAndPassword(dummyHash(), []byte(secret))
		}
		return nil, err
	}
	key := sha256.Sum256([]byte(name + "\x00" + secret))
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(c.expires) && subtle.ConstantTimeCompare([]byte(c.hash), []byte(hash)) == 1 {
		return p, nil
	}
	if p.Robot {
		if subtle.ConstantTimeCompare([]byte(TokenHash(secret)), []byte(hash)) != 1 {
			return nil, ErrUnauthorized
		}
	} else if bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) != nil {
		return nil, ErrUnauthorized
	}
	ttl := a.CacheTTL
	if ttl == 0 {
		ttl = time.Minute
	}
	until := now.Add(ttl)
	if !expires.IsZero() && expires.Before(until) {
		until = expires // never past the account's own expiry
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) > 10000 {
		a.cache = map[[32]byte]cachedLogin{}
	}
	a.cache[key] = cachedLogin{hash, until}
	a.mu.Unlock()
	return p, nil
}

// account reads a user or robot as it stands now: the principal, the
// stored hash to check a secret against and, for robots, the expiry.
func (a *Authenticator) account(ctx context.Context, name string, now time.Time) (*Principal, string, time.Time, error) {
	if strings.HasPrefix(name, RobotPrefix) {
		r, err := a.Store.GetRobot(ctx, name)
		if errors.Is(err, store.ErrNotFound) || err == nil && !now.Before(r.Expires) {
			return nil, "", time.Time{}, ErrUnauthorized
		}
		if err != nil {
			return nil, "", time.Time{}, err
		}
		return &Principal{Name: name, Robot: true, Scopes: r.Scopes, Expires: r.Expires}, r.TokenHash, r.Expires, nil
	}
	u, err := a.Store.GetUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", time.Time{}, ErrUnauthorized
	}
	if err != nil {
		return nil, "", time.Time{}, err
	}
	return &Principal{Name: u.Name, Admin: u.Admin}, u.PasswordHash, time.Time{}, nil
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Lookup returns the principal a token subject names, as it stands now
// (a deleted user, an expired or revoked robot: ErrUnauthorized).
func (a *Authenticator) Lookup(ctx context.Context, name string) (*Principal, error) {
	p, _, _, err := a.account(ctx, name, a.now())
	return p, err
}

// dummyHash is compared against for unknown users; made on first use, not
// at start-up (bcrypt costs every bulwark command 70 ms otherwise).
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost)
	return h
})

// Allowed returns the subset of actions p may take on repo.
func (a *Authenticator) Allowed(ctx context.Context, p *Principal, repo string, actions []string) ([]string, error) {
	project := Project(repo)
	var granted []string
	switch {
	case p != nil && p.Admin:
		granted = []string{Pull, Push, Delete}
	case p != nil && p.Robot:
		for _, s := range p.Scopes {
			proj, acts, _ := strings.Cut(s, ":")
			if proj == project || proj == "*" {
				granted = append(granted, strings.Split(acts, ",")...)
			}
		}
	case p != nil:
		role, err := a.Store.Role(ctx, project, p.Name)
		if err != nil {
			return nil, err
		}
		granted = Roles[role]
	}
	if !slices.Contains(granted, Pull) {
		public, err := a.Store.ProjectPublic(ctx, project)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if public {
			granted = append(granted, Pull)
		}
	}
	var out []string
	for _, act := range actions {
		if slices.Contains(granted, act) {
			out = append(out, act)
		}
	}
	return out, nil
}

// Bootstrap creates the admin account on a first start (no users yet):
// its password is password when given (BULWARK_ADMIN_PASSWORD), otherwise
// generated and returned so the caller prints it once. created is false
// when users already exist (the password is then not applied).
func (a *Authenticator) Bootstrap(ctx context.Context, password string) (generated string, created bool, err error) {
	n, err := a.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", false, err
	}
	pw := password
	if pw == "" {
		pw = RandomSecret(18)
		generated = pw
	}
	hash, err := HashPassword(pw)
	if err != nil {
		return "", false, fmt.Errorf("BULWARK_ADMIN_PASSWORD: %w", err)
	}
	if err := a.Store.CreateUser(ctx, store.User{Name: "admin", PasswordHash: hash, Admin: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", false, nil // another replica won the race
		}
		return "", false, err
	}
	return generated, true, nil
}
