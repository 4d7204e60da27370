package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/scanner"
	"bulwark.dev/bulwark/internal/store"
)

// The REST API under /api/v1, documented in docs/openapi.yaml. Callers
// authenticate with Basic credentials (a user's password or a robot's
// token); every change is recorded in the audit trail.

var (
	projectNameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
	// Compiled on first use: the {0,63} repetition is costly to compile,
	// and every command would pay it at start-up.
	userNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`) })
)

// router is what routeAPI registers on (an *http.ServeMux; a recorder in
// the test that keeps docs/openapi.yaml in step).
type router interface {
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

func (s *Server) routeAPI(mux router) {
	mux.HandleFunc("GET /api/v1/scans/{digest}", s.api(s.getScan))
	mux.HandleFunc("GET /api/v1/projects/{project}/policy", s.api(s.getPolicy))
	mux.HandleFunc("PUT /api/v1/projects/{project}/policy", s.api(s.putPolicy))
	mux.HandleFunc("PUT /api/v1/projects/{project}/members/{user}", s.api(s.putMember))
	mux.HandleFunc("GET /api/v1/users", s.api(s.listUsers))
	mux.HandleFunc("POST /api/v1/users", s.api(s.createUser))
	mux.HandleFunc("GET /api/v1/robots", s.api(s.listRobots))
	mux.HandleFunc("POST /api/v1/robots", s.api(s.createRobot))
	mux.HandleFunc("DELETE /api/v1/robots/{name}", s.api(s.deleteRobot))
	mux.HandleFunc("POST /api/v1/rescan", s.api(s.rescan))
	mux.HandleFunc("GET /api/v1/jobs", s.api(s.listJobs))
	mux.HandleFunc("POST /api/v1/projects/{project}/retention", s.api(s.runRetention))
	mux.HandleFunc("POST /api/v1/gc", s.api(s.runGC))
	mux.HandleFunc("POST /api/v1/runtime/events", s.api(s.postRuntimeEvents))
	mux.HandleFunc("GET /api/v1/runtime/events", s.api(s.listRuntimeEvents))
	mux.HandleFunc("GET /api/v1/sla", s.api(s.slaReport))
	mux.HandleFunc("GET /api/v1/benchmarks", s.api(s.listBenchmarks))
	mux.HandleFunc("GET /api/v1/benchmarks/{id}", s.api(s.getBenchmark))
	mux.HandleFunc("POST /api/v1/benchmarks/{kind}/run", s.api(s.runBenchmark))
}

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func apiErrorf(status int, format string, args ...any) error {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

// api authenticates the caller (Basic only) and renders errors as JSON.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, p *identity.Principal) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var p *identity.Principal
		if r.Header.Get("Authorization") != "" {
			if _, _, ok := r.BasicAuth(); !ok {
				// Credentials the API cannot read are refused, not taken
				// for an anonymous caller: a client sending a bearer token
				// would otherwise see private images as unknown.
				w.Header().Set("WWW-Authenticate", `Basic realm="bulwark"`)
				writeAPIError(w, http.StatusUnauthorized, "the API reads Basic credentials only (a user and password, or robot$NAME and its token)")
				return
			}
		}
		if _, _, ok := r.BasicAuth(); ok {
			var err error
			if p, err = s.auth.Login(r.Context(), basicUser(r), basicPass(r)); err != nil {
				s.recordLoginFailure(r.Context(), basicUser(r), "api", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Basic realm="bulwark"`)
				writeAPIError(w, http.StatusUnauthorized, err.Error())
				return
			}
			s.recordBasicLogin(r.Context(), p.Name, "api", r.RemoteAddr)
		}
		err := h(w, r, p)
		if err == nil {
			return
		}
		var ae *apiError
		if errors.As(err, &ae) {
			if ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden {
				// Every refusal is on the record (the route, not the raw
				// path: names in it are not validated yet).
				detail := map[string]any{"route": r.Pattern, "remote": r.RemoteAddr, "reason": ae.msg}
				if p != nil {
					s.record(r.Context(), p.Name, audit.ActionAPIDeny, r.Pattern, audit.Denied, detail)
				} else {
					s.limited(r.Context(), "api.deny anonymous", r.RemoteAddr, func() {
						s.record(r.Context(), "anonymous", audit.ActionAPIDeny, r.Pattern, audit.Denied, detail)
					})
				}
			}
			if ae.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="bulwark"`)
			}
			writeAPIError(w, ae.status, ae.msg)
			return
		}
		s.cfg.Logger.Error("api", "path", r.URL.Path, "err", err)
		writeAPIError(w, http.StatusInternalServerError, "internal error")
	}
}

func basicUser(r *http.Request) string { u, _, _ := r.BasicAuth(); return u }
func basicPass(r *http.Request) string { _, p, _ := r.BasicAuth(); return p }

func writeAPIError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeAPI(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly (unknown fields are errors).
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %v", err)
	}
	return nil
}

// refuse is 401 with a challenge for an anonymous caller (logging in may
// help) and 403 for a known one.
func refuse(p *identity.Principal, format string, args ...any) error {
	if p == nil {
		return apiErrorf(http.StatusUnauthorized, "log in (Basic credentials): "+format, args...)
	}
	return apiErrorf(http.StatusForbidden, format, args...)
}

func needLogin(p *identity.Principal) error {
	if p == nil {
		return apiErrorf(http.StatusUnauthorized, "log in (Basic credentials)")
	}
	return nil
}

func needAdmin(p *identity.Principal) error {
	if err := needLogin(p); err != nil {
		return err
	}
	if !p.Admin {
		return apiErrorf(http.StatusForbidden, "%s is not an administrator", p.Name)
	}
	return nil
}

// needProjectAdmin allows administrators and the project's admins.
func (s *Server) needProjectAdmin(r *http.Request, p *identity.Principal, project string) error {
	if err := needLogin(p); err != nil {
		return err
	}
	if p.Admin {
		return nil
	}
	if !p.Robot {
		role, err := s.store.Role(r.Context(), project, p.Name)
		if err != nil {
			return err
		}
		if role == "admin" {
			return nil
		}
	}
	return apiErrorf(http.StatusForbidden, "%s is not an administrator of project %s", p.Name, project)
}

func (s *Server) project(r *http.Request) (string, error) {
	project := r.PathValue("project")
	if !projectNameRE.MatchString(project) {
		return "", apiErrorf(http.StatusBadRequest, "invalid project name %q", project)
	}
	return project, nil
}

// scanView is a scan result as the API shows it.
type scanView struct {
	Digest    string          `json:"digest"`
	Repo      string          `json:"repository"`
	ScannedAt time.Time       `json:"scannedAt"`
	DBUpdated time.Time       `json:"databaseUpdated"`
	Summary   map[string]int  `json:"summary"`
	Findings  json.RawMessage `json:"findings"`
	// OS is the image's OS with its end of life; Coverage says per
	// ecosystem whether the database held advisories; Warnings are what
	// the reader must know (null for scans stored before they were kept).
	OS       json.RawMessage `json:"os"`
	Coverage json.RawMessage `json:"coverage"`
	Warnings json.RawMessage `json:"warnings"`
	// Checks are the image hygiene check results.
	Checks json.RawMessage `json:"checks"`
}

// rawOrNull is a stored JSON column as the API shows it.
func rawOrNull(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// getScan answers only callers who may pull the repository that holds
// the digest; to everyone else a scan that exists and one that does not
// look the same, so the API never tells which private repository holds
// an image.
func (s *Server) getScan(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	digest := r.PathValue("digest")
	if _, err := registry.ParseDigest(digest); err != nil {
		return apiErrorf(http.StatusBadRequest, "invalid digest %q", digest)
	}
	notFound := apiErrorf(http.StatusNotFound, "no scan of %s that you may read", digest)
	sc, err := s.store.GetScan(r.Context(), digest)
	repo := ""
	switch {
	case err == nil:
		repo = sc.Repo
	case errors.Is(err, store.ErrNotFound):
		payload, err := s.store.JobPayload(r.Context(), scanner.JobKind, digest)
		if err != nil {
			return err
		}
		var pl struct {
			Repo string `json:"repo"`
		}
		if json.Unmarshal([]byte(payload), &pl) != nil || pl.Repo == "" {
			return notFound
		}
		repo = pl.Repo
	default:
		return err
	}
	if ok, err := s.may(r.Context(), p, nil, repo, identity.Pull); err != nil {
		return err
	} else if !ok {
		return notFound
	}
	if sc == nil {
		state, lastErr, err := s.store.JobState(r.Context(), scanner.JobKind, digest)
		if err != nil {
			return err
		}
		return writeAPI(w, http.StatusAccepted, map[string]string{"digest": digest, "state": state, "error": lastErr})
	}
	return writeAPI(w, http.StatusOK, scanView{Digest: sc.Digest, Repo: sc.Repo, ScannedAt: sc.ScannedAt.UTC(), DBUpdated: sc.DBUpdated.UTC(),
		Summary:  map[string]int{"critical": sc.Critical, "high": sc.High, "medium": sc.Medium, "low": sc.Low, "unknown": sc.Unknown},
		Findings: json.RawMessage(sc.Findings), OS: rawOrNull(sc.OS), Coverage: rawOrNull(sc.Coverage), Warnings: rawOrNull(sc.Warnings), Checks: rawOrNull(sc.Checks)})
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	project, err := s.project(r)
	if err != nil {
		return err
	}
	if ok, err := s.may(r.Context(), p, nil, project+"/x", identity.Pull); err != nil {
		return err
	} else if !ok {
		return refuse(p, "no access to project %s", project)
	}
	raw, err := s.store.ProjectPolicy(r.Context(), project)
	if err != nil {
		return err
	}
	source := "project"
	if raw == "" {
		raw, source = s.cfg.DefaultPolicy, "server default"
	}
	pol, err := policy.ParsePullPolicy([]byte(raw))
	if err != nil {
		return err
	}
	w.Header().Set("Bulwark-Policy-Source", source)
	return writeAPI(w, http.StatusOK, pol)
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	project, err := s.project(r)
	if err != nil {
		return err
	}
	if err := s.needProjectAdmin(r, p, project); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	pol, err := policy.ParsePullPolicy(b)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%v", err)
	}
	norm, _ := json.Marshal(pol)
	if err := s.store.SetProjectPolicy(r.Context(), project, string(norm), p.Name); err != nil {
		return err
	}
	s.gate.invalidate()
	s.record(r.Context(), p.Name, audit.ActionPolicyChange, project, audit.Success, map[string]any{"policy": json.RawMessage(norm)})
	return writeAPI(w, http.StatusOK, pol)
}

func (s *Server) putMember(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	project, err := s.project(r)
	if err != nil {
		return err
	}
	if err := s.needProjectAdmin(r, p, project); err != nil {
		return err
	}
	var body struct {
		Role string `json:"role"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if _, ok := identity.Roles[body.Role]; !ok {
		return apiErrorf(http.StatusBadRequest, "role %q: want guest, developer, maintainer or admin", body.Role)
	}
	user := r.PathValue("user")
	if _, err := s.store.GetUser(r.Context(), user); errors.Is(err, store.ErrNotFound) {
		return apiErrorf(http.StatusNotFound, "no user %q", user)
	} else if err != nil {
		return err
	}
	if err := s.store.EnsureProject(r.Context(), project, false); err != nil {
		return err
	}
	if err := s.store.SetMember(r.Context(), project, user, body.Role); err != nil {
		return err
	}
	s.record(r.Context(), p.Name, audit.ActionMemberSet, project, audit.Success, map[string]any{"user": user, "role": body.Role})
	return writeAPI(w, http.StatusOK, map[string]string{"project": project, "user": user, "role": body.Role})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if !userNameRE().MatchString(body.Name) || strings.HasPrefix(body.Name, identity.RobotPrefix) {
		return apiErrorf(http.StatusBadRequest, "invalid user name %q", body.Name)
	}
	hash, err := identity.HashPassword(body.Password)
	if err != nil {
		return apiErrorf(http.StatusBadRequest, "%v", err)
	}
	if err := s.store.CreateUser(r.Context(), store.User{Name: body.Name, PasswordHash: hash, Admin: body.Admin}); errors.Is(err, store.ErrExists) {
		return apiErrorf(http.StatusConflict, "user %s exists", body.Name)
	} else if err != nil {
		return err
	}
	s.record(r.Context(), p.Name, audit.ActionUserCreate, body.Name, audit.Success, map[string]any{"admin": body.Admin})
	return writeAPI(w, http.StatusCreated, map[string]any{"name": body.Name, "admin": body.Admin})
}

// createRobot makes a robot account and returns its token, once. An
// administrator may scope it to any project; a project admin only to
// projects they administer.
func (s *Server) createRobot(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needLogin(p); err != nil {
		return err
	}
	var body struct {
		Name      string   `json:"name"`
		Scopes    []string `json:"scopes"`
		ExpiresIn string   `json:"expiresIn"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if !userNameRE().MatchString(body.Name) {
		return apiErrorf(http.StatusBadRequest, "invalid robot name %q", body.Name)
	}
	ttl, err := time.ParseDuration(body.ExpiresIn)
	if err != nil || ttl <= 0 || ttl > 366*24*time.Hour {
		return apiErrorf(http.StatusBadRequest, "expiresIn %q: want a duration up to 8784h (a year), such as 720h", body.ExpiresIn)
	}
	if len(body.Scopes) == 0 {
		return apiErrorf(http.StatusBadRequest, "a robot needs at least one scope, such as \"shop:pull,push\"")
	}
	for _, sc := range body.Scopes {
		project, actions, ok := strings.Cut(sc, ":")
		if !ok || (!projectNameRE.MatchString(project) && !(project == "*" && p.Admin)) {
			return apiErrorf(http.StatusBadRequest, "scope %q: want PROJECT:ACTION[,ACTION]", sc)
		}
		for _, a := range strings.Split(actions, ",") {
			if a == identity.Report && project != "*" {
				return apiErrorf(http.StatusBadRequest, "scope %q: report is for every project: \"*:report\"", sc)
			}
			if a != identity.Pull && a != identity.Push && a != identity.Delete && a != identity.Report {
				return apiErrorf(http.StatusBadRequest, "scope %q: action %q: want pull, push, delete or (on \"*\") report", sc, a)
			}
		}
		if project != "*" {
			if err := s.needProjectAdmin(r, p, project); err != nil {
				return err
			}
		}
	}
	robot := identity.RobotPrefix + body.Name
	token := identity.RandomSecret(32)
	expires := time.Now().Add(ttl).UTC().Truncate(time.Second)
	if err := s.store.CreateRobot(r.Context(), store.Robot{Name: robot, TokenHash: identity.TokenHash(token), Scopes: body.Scopes, Expires: expires}); errors.Is(err, store.ErrExists) {
		return apiErrorf(http.StatusConflict, "robot %s exists", robot)
	} else if err != nil {
		return err
	}
	s.record(r.Context(), p.Name, audit.ActionRobotCreate, robot, audit.Success, map[string]any{"scopes": body.Scopes, "expires": expires.Format(time.RFC3339)})
	return writeAPI(w, http.StatusCreated, map[string]any{"name": robot, "token": token, "scopes": body.Scopes, "expires": expires})
}

func (s *Server) rescan(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	n, err := s.scanner.RescanAll(r.Context())
	if err != nil {
		return err
	}
	s.record(r.Context(), p.Name, audit.ActionScanRescan, "all", audit.Success, map[string]any{"images": n})
	return writeAPI(w, http.StatusAccepted, map[string]int{"queued": n})
}

// listUsers lists the users (administrators only), without secrets.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	type view struct {
		Name  string `json:"name"`
		Admin bool   `json:"admin"`
	}
	out := []view{}
	for _, u := range us {
		out = append(out, view{u.Name, u.Admin})
	}
	return writeAPI(w, http.StatusOK, out)
}

// listRobots lists the robot accounts (administrators only), without
// token hashes.
func (s *Server) listRobots(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	rs, err := s.store.ListRobots(r.Context())
	if err != nil {
		return err
	}
	type view struct {
		Name    string    `json:"name"`
		Scopes  []string  `json:"scopes"`
		Expires time.Time `json:"expires"`
		Expired bool      `json:"expired"`
	}
	out := []view{}
	for _, rb := range rs {
		out = append(out, view{rb.Name, rb.Scopes, rb.Expires.UTC(), !time.Now().Before(rb.Expires)})
	}
	return writeAPI(w, http.StatusOK, out)
}

// deleteRobot revokes a robot at once, on every replica: logins and
// tokens are checked against the store on each request.
func (s *Server) deleteRobot(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	name := r.PathValue("name")
	if !strings.HasPrefix(name, identity.RobotPrefix) {
		name = identity.RobotPrefix + name
	}
	if !userNameRE().MatchString(strings.TrimPrefix(name, identity.RobotPrefix)) {
		return apiErrorf(http.StatusBadRequest, "invalid robot name %q", name)
	}
	if err := s.store.DeleteRobot(r.Context(), name); errors.Is(err, store.ErrNotFound) {
		return apiErrorf(http.StatusNotFound, "no robot %s", name)
	} else if err != nil {
		return err
	}
	s.record(r.Context(), p.Name, audit.ActionRobotDelete, name, audit.Success, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listJobs shows the background jobs (administrators): kind, state,
// attempts and the last error, newest first (?kind=scan&state=failed).
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "", "queued", "running", "done", "failed":
	default:
		return apiErrorf(http.StatusBadRequest, "state %q: want queued, running, done or failed", state)
	}
	js, err := s.store.Jobs(r.Context(), q.Get("kind"), state, 200)
	if err != nil {
		return err
	}
	if js == nil {
		js = []store.JobInfo{}
	}
	return writeAPI(w, http.StatusOK, js)
}
