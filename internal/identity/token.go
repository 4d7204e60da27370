package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Access is one grant in a Docker registry token: actions on a resource.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are the contents of a bulwark registry token (a JWT).
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expires   int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Access    []Access `json:"access"`
}

// Grants says whether the token grants action on a repository.
func (c *Claims) Grants(repo, action string) bool {
	for _, a := range c.Access {
		if a.Type == "repository" && a.Name == repo && slices.Contains(a.Actions, action) {
			return true
		}
	}
	return false
}

// Tokens issues and verifies registry bearer tokens, signed with HMAC
// SHA-256 under a secret the replicas share through the store. Only the
// issuing server verifies them, so no public key needs publishing.
type Tokens struct {
	Secret  []byte
	Service string
	TTL     time.Duration
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Issue returns a token for p with the given grants.
func (t *Tokens) Issue(p *Principal, access []Access, now time.Time) (string, error) {
	ttl := t.TTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	sub := ""
	if p != nil {
		sub = p.Name
	}
	exp := now.Add(ttl)
	if p != nil && !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires // a robot's token ends with the robot
	}
	c := Claims{Issuer: "bulwark", Subject: sub, Audience: t.Service, IssuedAt: now.Unix(), NotBefore: now.Add(-time.Minute).Unix(),
		Expires: exp.Unix(), ID: RandomSecret(12), Access: access}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	return signing + "." + base64.RawURLEncoding.EncodeToString(t.mac(signing)), nil
}

func (t *Tokens) mac(s string) []byte {
	m := hmac.New(sha256.New, t.Secret)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// ErrBadToken is an invalid, expired or foreign token.
var ErrBadToken = errors.New("invalid or expired token")

// Parse verifies a token's signature, audience and validity period.
func (t *Tokens) Parse(tok string, now time.Time) (*Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return nil, ErrBadToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, t.mac(parts[0]+"."+parts[1])) {
		return nil, ErrBadToken
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ErrBadToken
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, ErrBadToken
	}
	if c.Audience != t.Service || now.Unix() >= c.Expires || now.Unix() < c.NotBefore {
		return nil, ErrBadToken
	}
	return &c, nil
}

// ParseScope reads a token request scope: "repository:NAME:pull,push".
// Other resource types are returned with their actions; callers grant
// what they know.
func ParseScope(s string) (Access, error) {
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndex(rest, ":")
	if !ok || i < 0 || typ == "" || rest[:i] == "" {
		return Access{}, fmt.Errorf("scope %q: want TYPE:NAME:ACTIONS", s)
	}
	var actions []string
	for _, a := range strings.Split(rest[i+1:], ",") {
		if a != "" {
			actions = append(actions, a)
		}
	}
	return Access{Type: typ, Name: rest[:i], Actions: actions}, nil
}
