package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/registry"
)

type principalKey struct{}
type claimsKey struct{}

// caller is who made a request: a principal (Basic credentials), the
// claims of a bearer token, or neither (anonymous).
func caller(ctx context.Context) (*identity.Principal, *identity.Claims) {
	p, _ := ctx.Value(principalKey{}).(*identity.Principal)
	c, _ := ctx.Value(claimsKey{}).(*identity.Claims)
	return p, c
}

// registryAction is the repository a registry request concerns and the
// action it needs ("" repo for /v2/ and the catalog).
func registryAction(r *http.Request) (repo, action string) {
	repo, _, _, ok := registry.ParsePath(r.URL.Path)
	if !ok {
		return "", ""
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return repo, identity.Pull
	case http.MethodDelete:
		return repo, identity.Delete
	}
	return repo, identity.Push
}

// authenticate reads the Authorization header. A present but invalid
// credential is an error (never silently anonymous).
func (s *Server) authenticate(r *http.Request) (*identity.Principal, *identity.Claims, error) {
	h := r.Header.Get("Authorization")
	switch {
	case h == "":
		return nil, nil, nil
	case strings.HasPrefix(h, "Bearer "):
		c, err := s.tokens.Parse(strings.TrimPrefix(h, "Bearer "), time.Now())
		if err == nil && c.Subject != "" {
			// A token outlives nothing: its subject must still exist (not
			// deleted, revoked or expired) on whichever replica it reaches.
			if _, lerr := s.auth.Lookup(r.Context(), c.Subject); lerr != nil {
				return nil, nil, lerr
			}
		}
		return nil, c, err
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, nil, identity.ErrUnauthorized
	}
	p, err := s.auth.Login(r.Context(), user, pass)
	return p, nil, err
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request, scope, errCode string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	v := fmt.Sprintf(`Bearer realm=%s,service=%s`, quoteParam(scheme+"://"+r.Host+"/auth/token"), quoteParam(s.tokens.Service))
	if scope != "" {
		v += ",scope=" + quoteParam(scope)
	}
	if errCode != "" {
		v += ",error=" + quoteParam(errCode)
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": "authentication required"}}})
}

func denied(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": msg}}})
}

// may says whether the caller may take action on repo.
func (s *Server) may(ctx context.Context, p *identity.Principal, c *identity.Claims, repo, action string) (bool, error) {
	if c != nil {
		return c.Grants(repo, action), nil
	}
	got, err := s.auth.Allowed(ctx, p, repo, []string{action})
	return len(got) == 1, err
}

// registryAuth guards /v2/: every repository request needs the action's
// permission; /v2/ itself needs a login (so docker login can check
// credentials); the catalog is for administrators.
func (s *Server) registryAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		p, c, err := s.authenticate(r)
		if err != nil {
			user, _, _ := r.BasicAuth()
			s.recordLoginFailure(r.Context(), user, "registry", r.RemoteAddr)
			s.challenge(w, r, "", "invalid_token")
			return
		}
		anonymous := p == nil && c == nil
		if p != nil {
			s.recordBasicLogin(r.Context(), p.Name, "registry", r.RemoteAddr)
		}
		repo, action := registryAction(r)
		if repo != "" && !registry.ValidName(repo) {
			// Refused before it reaches a challenge header, a log line or
			// the audit trail (a name can carry quotes and a second realm).
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "NAME_INVALID", "message": "invalid repository name"}}})
			return
		}
		switch {
		case r.URL.Path == "/v2/" || r.URL.Path == "/v2":
			if anonymous {
				s.challenge(w, r, "", "")
				return
			}
		case r.URL.Path == "/v2/_catalog":
			if !(p != nil && p.Admin) && !(c != nil && catalogGrant(c)) {
				s.recordDenial(r, p, c, "registry:catalog", "catalog")
				if anonymous || c != nil {
					s.challenge(w, r, "registry:catalog:*", "insufficient_scope")
					return
				}
				denied(w, "listing repositories is for administrators")
				return
			}
		case repo != "":
			ok, err := s.may(r.Context(), p, c, repo, action)
			if err != nil {
				s.cfg.Logger.Error("authorization failed", "err", err)
				http.Error(w, "authorization unavailable", http.StatusServiceUnavailable)
				return
			}
			if !ok {
				scope := "repository:" + repo + ":" + action
				s.recordDenial(r, p, c, repo, action)
				if anonymous || c != nil {
					s.challenge(w, r, scope, "insufficient_scope")
					return
				}
				denied(w, fmt.Sprintf("%s may not %s %s: ask a project administrator for a role in project %s", p.Name, action, repo, identity.Project(repo)))
				return
			}
			if action == identity.Push {
				s.ensureProject(r.Context(), identity.Project(repo))
			}
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		ctx = context.WithValue(ctx, claimsKey{}, c)
		actor := "anonymous"
		if p != nil {
			actor = p.Name
		} else if c != nil {
			actor = c.Subject
		}
		next.ServeHTTP(w, r.WithContext(registry.WithActor(ctx, actor)))
	})
}

func catalogGrant(c *identity.Claims) bool {
	for _, a := range c.Access {
		if a.Type == "registry" && a.Name == "catalog" {
			return true
		}
	}
	return false
}

// canRead is the registry's mount check: the caller must be able to pull
// the repository a blob is mounted from.
func (s *Server) canRead(r *http.Request, repo string) bool {
	return s.callerMay(r.Context(), repo, identity.Pull)
}

// callerMay says whether the request's caller may take action on repo:
// by the token's grants, or, for what a token was not scoped to, by its
// subject's rights as they stand now (a mount's source, a HEAD by a
// pusher).
func (s *Server) callerMay(ctx context.Context, repo, action string) bool {
	p, c := caller(ctx)
	ok, err := s.may(ctx, p, c, repo, action)
	if err == nil && !ok && c != nil && c.Subject != "" {
		if sp, lerr := s.auth.Lookup(ctx, c.Subject); lerr == nil {
			ok, err = s.may(ctx, sp, nil, repo, action)
		}
	}
	return err == nil && ok
}

// ensureProject records a project the first time something is pushed to
// it, so it can carry members and policy.
func (s *Server) ensureProject(ctx context.Context, project string) {
	if _, ok := s.projects.Load(project); ok {
		return
	}
	if err := s.store.EnsureProject(ctx, project, false); err == nil {
		s.projects.Store(project, true)
	}
}

// token is the Docker registry token endpoint: it grants the requested
// scopes the caller is allowed, nothing more.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var p *identity.Principal
	if _, _, ok := r.BasicAuth(); ok {
		var err error
		if p, _, err = s.authenticate(r); err != nil {
			user, _, _ := r.BasicAuth()
			s.recordLoginFailure(r.Context(), user, "token", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="bulwark"`)
			writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
			return
		}
	}
	var grants []identity.Access
	var requested, refused []string
	for _, raw := range r.URL.Query()["scope"] {
		for _, sc := range strings.Fields(raw) {
			a, err := identity.ParseScope(sc)
			if err != nil {
				writeJSONError(w, http.StatusBadRequest, "INVALID_SCOPE", err.Error())
				return
			}
			switch a.Type {
			case "repository":
				actions := a.Actions
				if slices.Contains(actions, "*") {
					actions = []string{identity.Pull, identity.Push, identity.Delete}
				}
				if !registry.ValidName(a.Name) {
					writeJSONError(w, http.StatusBadRequest, "INVALID_SCOPE", "invalid repository name in scope")
					return
				}
				got, err := s.auth.Allowed(r.Context(), p, a.Name, actions)
				if err != nil {
					writeJSONError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "authorization unavailable")
					return
				}
				if len(got) > 0 {
					grants = append(grants, identity.Access{Type: "repository", Name: a.Name, Actions: got})
				}
				requested = append(requested, sc)
				for _, act := range actions {
					if !slices.Contains(got, act) {
						refused = append(refused, "repository:"+a.Name+":"+act)
					}
				}
			case "registry":
				if p != nil && p.Admin && a.Name == "catalog" {
					grants = append(grants, identity.Access{Type: "registry", Name: "catalog", Actions: []string{"*"}})
				}
			}
		}
	}
	var granted []string
	for _, g := range grants {
		granted = append(granted, g.Type+":"+g.Name+":"+strings.Join(g.Actions, ","))
	}
	if p != nil {
		// A login: docker login, and each client session, asks for a
		// token with credentials; what was asked and what was given.
		s.record(r.Context(), p.Name, audit.ActionAuthLogin, "token", audit.Success, map[string]any{"remote": r.RemoteAddr, "requested": requested, "granted": granted})
	}
	if len(refused) > 0 {
		actor := "anonymous"
		if p != nil {
			actor = p.Name
		}
		rec := func() {
			s.record(r.Context(), actor, audit.ActionAuthDeny, "token", audit.Denied, map[string]any{"remote": r.RemoteAddr, "refused": refused})
		}
		if p == nil {
			s.limited(r.Context(), "auth.deny anonymous", r.RemoteAddr, rec)
		} else {
			rec()
		}
	}
	now := time.Now()
	tok, err := s.tokens.Issue(p, grants, now)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "UNKNOWN", "token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	expiresIn := s.tokenTTL()
	if p != nil && !p.Expires.IsZero() && p.Expires.Sub(now) < expiresIn {
		expiresIn = p.Expires.Sub(now)
	}
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": int(expiresIn.Seconds()), "issued_at": now.UTC().Format(time.RFC3339)})
}

func (s *Server) tokenTTL() time.Duration {
	if s.tokens.TTL == 0 {
		return 5 * time.Minute
	}
	return s.tokens.TTL
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// tokenSecret is the HMAC key for registry tokens, created once and
// shared by replicas through the store.
func tokenSecret(ctx context.Context, s interface {
	InitSetting(context.Context, string, string) (string, error)
}) ([]byte, error) {
	v, err := s.InitSetting(ctx, "token_secret", identity.RandomSecret(32))
	if err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	if len(v) < 32 {
		return nil, errors.New("token secret: stored value too short")
	}
	return []byte(v), nil
}

// quoteParam is an RFC 7235 auth-param value: a quoted-string with '"'
// and '\\' escaped, control characters dropped, so no value can close the
// quote and add a parameter (a second realm) of its own.
func quoteParam(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// recordDenial records a refused registry request: always for a known
// caller (Basic or a token's subject), rate-limited for an anonymous one.
func (s *Server) recordDenial(r *http.Request, p *identity.Principal, c *identity.Claims, object, action string) {
	detail := map[string]any{"action": action, "remote": r.RemoteAddr, "method": r.Method}
	switch {
	case p != nil:
		s.record(r.Context(), p.Name, audit.ActionAuthDeny, object, audit.Denied, detail)
	case c != nil:
		detail["token"] = true
		s.record(r.Context(), c.Subject, audit.ActionAuthDeny, object, audit.Denied, detail)
	default:
		s.limited(r.Context(), "auth.deny anonymous", r.RemoteAddr, func() {
			s.record(r.Context(), "anonymous", audit.ActionAuthDeny, object, audit.Denied, detail)
		})
	}
}
