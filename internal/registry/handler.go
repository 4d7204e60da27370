package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/store"
)

// Media types the registry knows how to read for references.
const (
	ociManifest    = "application/vnd.oci.image.manifest.v1+json"
	ociIndex       = "application/vnd.oci.image.index.v1+json"
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	// maxManifest is the largest manifest accepted; the OCI spec asks
	// registries to take at least 4 MiB.
	maxManifest = 4 << 20
)

// Event is something the registry did, for the audit trail and scan on
// push. Digest is the manifest or blob concerned.
type Event struct {
	Action string // one of EventActions
	Kind   string // manifest, blob, tag
	Repo   string
	Digest string
	Tag    string
	// MediaType of a pushed or pulled manifest.
	MediaType string
	Subject   string
	Remote    string
	Actor     string
	// Image says a pushed manifest is a container image (IsImage): what
	// scan on push queues.
	Image bool
	// Denied, when set, says why the request was refused (nothing
	// changed).
	Denied string
}

// The actions of events.
const (
	EventPush   = "push"
	EventPull   = "pull"
	EventDelete = "delete"
	EventMount  = "mount"
)

// EventActions lists every event action, for those who map them.
var EventActions = []string{EventPush, EventPull, EventDelete, EventMount}

// Gate decides whether a manifest may be served (head: only its digest
// and size, for a HEAD request). A non-nil error is a refusal, answered
// as DENIED with the error's message.
type Gate func(ctx context.Context, m *store.Manifest, head bool) error

// BlobGate decides whether a blob may be served from repo. A non-nil
// error is a refusal.
type BlobGate func(ctx context.Context, repo, digest string, head bool) error

// ReadCheck says whether the request's caller may pull from repo.
type ReadCheck func(r *http.Request, repo string) bool

// The allow-all decisions, for tests and for in-process reads that
// the server has already authorized. Their names say what they are:
// a registry has no fail-open default, so serving without a gate is
// written down at the call site.
var (
	AllowAllUnsafe      Gate      = func(context.Context, *store.Manifest, bool) error { return nil }
	AllowAllBlobsUnsafe BlobGate  = func(context.Context, string, string, bool) error { return nil }
	AnyoneCanReadUnsafe ReadCheck = func(*http.Request, string) bool { return true }
)

// errNoGate answers every request of a handler built without its
// decisions: failing closed is the only safe reading of a forgotten
// field.
// validTag is the distribution spec's tag grammar,
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}, by hand (the regexp's {0,127}
// compiled at start-up cost every command 2 ms).
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

var errNoGate = errors.New("registry handler has no Gate, BlobGate or CanRead: every request is refused (set them, or the ...Unsafe allow-all values on purpose)")

// Handler is the OCI Distribution API. Gate, BlobGate and CanRead are
// required: a handler missing one refuses every request.
type Handler struct {
	Store *store.Store
	Blobs BlobStore
	Log   *slog.Logger
	// MaxBlob caps one blob upload (bytes).
	MaxBlob int64
	// Gate is consulted on every manifest GET and HEAD.
	Gate Gate
	// BlobGate is consulted on every blob GET and HEAD and on every
	// cross-repository mount: a layer of a refused image is refused too.
	BlobGate BlobGate
	// OnEvent is called for each successful change before the client is
	// told it succeeded (so an audit record is committed first), and
	// after each pull.
	OnEvent func(context.Context, Event)
	// Immutable says whether a tag may never move or be deleted. Nil:
	// no tag is.
	Immutable func(ctx context.Context, repo, tag string) bool
	// CanRead says whether the request's caller may pull from repo; a
	// blob is mounted from another repository only if so.
	CanRead ReadCheck
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	routes = []struct {
		re   *regexp.Regexp
		kind string
	}{
		{regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`), "manifest"},
		{regexp.MustCompile(`^/v2/(.+)/blobs/uploads/?$`), "uploads"},
		{regexp.MustCompile(`^/v2/(.+)/blobs/uploads/([^/]+)$`), "upload"},
		{regexp.MustCompile(`^/v2/(.+)/blobs/([^/]+)$`), "blob"},
		{regexp.MustCompile(`^/v2/(.+)/tags/list$`), "tags"},
		{regexp.MustCompile(`^/v2/(.+)/referrers/([^/]+)$`), "referrers"},
	}
)

// regError is an error in the distribution spec's format.
type regError struct {
	status  int
	code    string
	message string
}

func (e *regError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *regError {
	return &regError{status, code, fmt.Sprintf(format, args...)}
}

// notFound maps the store's ErrNotFound to a 404 with code; other errors
// pass through.
func notFound(err error, code, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, code, format, args...)
	}
	return err
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *Handler) event(ctx context.Context, r *http.Request, e Event) {
	if h.OnEvent != nil {
		e.Remote = r.RemoteAddr
		e.Actor, _ = ctx.Value(actorKey{}).(string)
		h.OnEvent(ctx, e)
	}
}

type actorKey struct{}

// WithActor names who makes the requests on ctx, for the events.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// ServeHTTP routes /v2/ requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if h.Gate == nil || h.BlobGate == nil || h.CanRead == nil {
		h.log().Error("registry request refused", "method", r.Method, "path", r.URL.Path, "err", errNoGate)
		writeError(w, errorf(http.StatusInternalServerError, "UNKNOWN", "registry misconfigured: no gate"))
		return
	}
	err := h.route(w, r)
	if err == nil {
		return
	}
	var re *regError
	if !errors.As(err, &re) {
		h.log().Error("registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		re = errorf(http.StatusInternalServerError, "UNKNOWN", "internal error")
	}
	writeError(w, re)
}

func writeError(w http.ResponseWriter, re *regError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(re.status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": re.code, "message": re.message}}})
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Path
	if p == "/v2/" || p == "/v2" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errorf(http.StatusMethodNotAllowed, "UNSUPPORTED", "method %s", r.Method)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return nil
	}
	if p == "/v2/_catalog" {
		return h.catalog(w, r)
	}
	if repo, kind, arg, ok := ParsePath(p); ok {
		if !nameRE.MatchString(repo) || len(repo) > 255 {
			return errorf(http.StatusBadRequest, "NAME_INVALID", "invalid repository name %q", repo)
		}
		switch kind {
		case "manifest":
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				return h.getManifest(w, r, repo, arg)
			case http.MethodPut:
				return h.putManifest(w, r, repo, arg)
			case http.MethodDelete:
				return h.deleteManifest(w, r, repo, arg)
			}
		case "blob":
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				return h.getBlob(w, r, repo, arg)
			case http.MethodDelete:
				return h.deleteBlob(w, r, repo, arg)
			}
		case "uploads":
			if r.Method == http.MethodPost {
				return h.startUpload(w, r, repo)
			}
		case "upload":
			switch r.Method {
			case http.MethodGet:
				return h.uploadStatus(w, r, repo, arg)
			case http.MethodPatch:
				return h.patchUpload(w, r, repo, arg)
			case http.MethodPut:
				return h.finishUpload(w, r, repo, arg)
			case http.MethodDelete:
				return h.cancelUpload(w, r, repo, arg)
			}
		case "tags":
			if r.Method == http.MethodGet {
				return h.tags(w, r, repo)
			}
		case "referrers":
			if r.Method == http.MethodGet {
				return h.referrers(w, r, repo, arg)
			}
		}
		return errorf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s is not supported on %s", r.Method, p)
	}
	return errorf(http.StatusNotFound, "NOT_FOUND", "no such endpoint: %s", p)
}

// splitImmutable separates the immutable tags from the others.
func (h *Handler) splitImmutable(ctx context.Context, repo string, tags []string) (immutable, mutable []string) {
	for _, t := range tags {
		if h.Immutable != nil && h.Immutable(ctx, repo, t) {
			immutable = append(immutable, t)
		} else {
			mutable = append(mutable, t)
		}
	}
	return immutable, mutable
}

// ParsePath splits a repository request path into the repository, the
// kind of endpoint (manifest, uploads, upload, blob, tags, referrers) and
// its argument. Authorization uses it too, so the repository checked is
// always the repository acted on.
// ValidName says whether repo is a valid repository name (the
// distribution spec's grammar, at most 255 characters): names are
// checked before they reach any header, log or audit record.
func ValidName(repo string) bool {
	return len(repo) <= 255 && nameRE.MatchString(repo)
}

func ParsePath(p string) (repo, kind, arg string, ok bool) {
	for _, rt := range routes {
		m := rt.re.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		if len(m) > 2 {
			arg = m[2]
		}
		return m[1], rt.kind, arg, true
	}
	return "", "", "", false
}

// resolve turns a tag or digest into the stored manifest.
func (h *Handler) resolve(ctx context.Context, repo, ref string) (*store.Manifest, error) {
	digest := ref
	if strings.Contains(ref, ":") {
		if _, err := ParseDigest(ref); err != nil {
			return nil, errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
		}
	} else {
		if !validTag(ref) {
			return nil, errorf(http.StatusBadRequest, "TAG_INVALID", "invalid tag %q", ref)
		}
		d, err := h.Store.ResolveTag(ctx, repo, ref)
		if err != nil {
			return nil, notFound(err, "MANIFEST_UNKNOWN", "%s:%s is not known", repo, ref)
		}
		digest = d
	}
	m, err := h.Store.GetManifest(ctx, repo, digest)
	if err != nil {
		return nil, notFound(err, "MANIFEST_UNKNOWN", "%s@%s is not known", repo, digest)
	}
	return m, nil
}

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	m, err := h.resolve(r.Context(), repo, ref)
	if err != nil {
		return err
	}
	if err := h.Gate(r.Context(), m, r.Method == http.MethodHead); err != nil {
		return errorf(http.StatusForbidden, "DENIED", "%v", err)
	}
	w.Header().Set("Content-Type", m.MediaType)
	w.Header().Set("Docker-Content-Digest", m.Digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Content)))
	w.Header().Set("ETag", `"`+m.Digest+`"`)
	if r.Method == http.MethodHead {
		return nil
	}
	w.Write(m.Content)
	h.event(r.Context(), r, Event{Action: EventPull, Kind: "manifest", Repo: repo, Digest: m.Digest, MediaType: m.MediaType, Tag: tagOf(ref)})
	return nil
}

func tagOf(ref string) string {
	if strings.Contains(ref, ":") {
		return ""
	}
	return ref
}

// manifestBody is the part of a manifest or index the registry reads.
type manifestBody struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

var zeroTime time.Time

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// foreign layers are not pushed to the registry (OCI non-distributable
// and Docker foreign layers): a manifest may name them without the blob.
func foreign(mediaType string) bool {
	return strings.Contains(mediaType, "nondistributable") || strings.Contains(mediaType, "foreign")
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
	if err != nil {
		return err
	}
	if len(body) > maxManifest {
		return errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", maxManifest)
	}
	var digest Digest
	var tags []string
	if strings.Contains(ref, ":") {
		want, err := ParseDigest(ref)
		if err != nil {
			return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
		}
		if digest = want.Sum(body); digest != want {
			return errorf(http.StatusBadRequest, "DIGEST_INVALID", "the manifest's digest is %s, not %s", digest, want)
		}
		// Distribution spec 1.1.1: tags given with a push by digest.
		tags = r.URL.Query()["tag"]
	} else {
		tags, digest = []string{ref}, SHA256(body)
	}
	for _, t := range tags {
		if !validTag(t) {
			return errorf(http.StatusBadRequest, "TAG_INVALID", "invalid tag %q", t)
		}
	}
	var mb manifestBody
	if err := json.Unmarshal(body, &mb); err != nil {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "the manifest is not JSON: %v", err)
	}
	mediaType := r.Header.Get("Content-Type")
	if i := strings.IndexByte(mediaType, ';'); i >= 0 {
		mediaType = strings.TrimSpace(mediaType[:i])
	}
	if mb.MediaType != "" && mediaType != "" && mb.MediaType != mediaType {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "Content-Type %s differs from the manifest's mediaType %s", mediaType, mb.MediaType)
	}
	if mediaType == "" {
		mediaType = mb.MediaType
	}
	if mb.SchemaVersion != 2 {
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "schemaVersion %d is not supported (want 2)", mb.SchemaVersion)
	}
	m := &store.Manifest{Repo: repo, Digest: digest.String(), MediaType: mediaType, Content: body, ArtifactType: mb.ArtifactType, Annotations: mb.Annotations}
	switch mediaType {
	case ociManifest, dockerManifest:
		if mb.Config == nil {
			return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "an image manifest needs a config")
		}
		if m.ArtifactType == "" {
			m.ArtifactType = mb.Config.MediaType
		}
		for _, d := range append([]descriptor{*mb.Config}, mb.Layers...) {
			if _, err := ParseDigest(d.Digest); err != nil {
				return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "%v", err)
			}
			if foreign(d.MediaType) {
				continue
			}
			if _, err := h.Store.BlobSize(ctx, repo, d.Digest); errors.Is(err, store.ErrNotFound) {
				return errorf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob %s is not in %s: push it before the manifest", d.Digest, repo)
			} else if err != nil {
				return err
			}
			m.Refs = append(m.Refs, d.Digest)
		}
	case ociIndex, dockerList:
		// Children may be missing: a sparse index (some platforms of a
		// multi-platform image copied) is valid. But an entry must be a
		// manifest: an index that lists a layer or config blob as a
		// "manifest" would make that blob belong to something ungated.
		for _, d := range mb.Manifests {
			if _, err := ParseDigest(d.Digest); err != nil {
				return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "%v", err)
			}
			switch d.MediaType {
			case ociManifest, dockerManifest, ociIndex, dockerList:
			default:
				return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "index entry %s has media type %q: an index lists manifests and indexes only", d.Digest, d.MediaType)
			}
			if _, err := h.Store.GetManifest(ctx, repo, d.Digest); errors.Is(err, store.ErrNotFound) {
				if _, berr := h.Store.BlobSize(ctx, repo, d.Digest); berr == nil {
					return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "index entry %s is a blob of %s, not a manifest", d.Digest, repo)
				}
			} else if err != nil {
				return err
			}
			m.Refs = append(m.Refs, d.Digest)
		}
	default:
		return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "media type %q is not an OCI or Docker v2 manifest or index", mediaType)
	}
	if mb.Subject != nil {
		if _, err := ParseDigest(mb.Subject.Digest); err != nil {
			return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "subject: %v", err)
		}
		m.Subject = mb.Subject.Digest
	}
	// Immutable tags are set only where absent (or already this digest),
	// in the same transaction as the manifest and the other tags: a
	// refused push changes nothing, and two racing pushes cannot both win.
	immutable, mutable := h.splitImmutable(ctx, repo, tags)
	if err := h.Store.PutManifestTags(ctx, m, mutable, immutable); err != nil {
		var it *store.ImmutableTagError
		if errors.As(err, &it) {
			msg := fmt.Sprintf("tag %s:%s is immutable (project policy) and points to %s: push under a new tag", repo, it.Tag, it.Digest)
			h.event(ctx, r, Event{Action: EventPush, Kind: "manifest", Repo: repo, Digest: m.Digest, Tag: strings.Join(tags, ","), MediaType: mediaType, Denied: msg})
			return errorf(http.StatusForbidden, "DENIED", "%s", msg)
		}
		return err
	}
	if m.Subject != "" {
		w.Header().Set("OCI-Subject", m.Subject)
	}
	for _, t := range tags {
		w.Header().Add("OCI-Tag", t)
	}
	w.Header().Set("Location", "/v2/"+repo+"/manifests/"+m.Digest)
	w.Header().Set("Docker-Content-Digest", m.Digest)
	h.event(ctx, r, Event{Action: EventPush, Kind: "manifest", Repo: repo, Digest: m.Digest, Tag: strings.Join(tags, ","), MediaType: mediaType, Subject: m.Subject, Image: IsImage(m)})
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	ctx := r.Context()
	if !strings.Contains(ref, ":") {
		if !validTag(ref) {
			return errorf(http.StatusBadRequest, "TAG_INVALID", "invalid tag %q", ref)
		}
		if h.Immutable != nil && h.Immutable(ctx, repo, ref) {
			return errorf(http.StatusForbidden, "DENIED", "tag %s:%s is immutable (project policy): it cannot be deleted", repo, ref)
		}
		if err := h.Store.DeleteTag(ctx, repo, ref); err != nil {
			return notFound(err, "MANIFEST_UNKNOWN", "%s:%s is not known", repo, ref)
		}
		h.event(ctx, r, Event{Action: EventDelete, Kind: "tag", Repo: repo, Tag: ref})
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if _, err := ParseDigest(ref); err != nil {
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	if h.Immutable != nil {
		tags, err := h.Store.TagsOf(ctx, repo, ref)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if h.Immutable(ctx, repo, t) {
				return errorf(http.StatusForbidden, "DENIED", "%s@%s carries the immutable tag %s (project policy): it cannot be deleted", repo, ref, t)
			}
		}
	}
	if err := h.Store.DeleteManifest(ctx, repo, ref); err != nil {
		return notFound(err, "MANIFEST_UNKNOWN", "%s@%s is not known", repo, ref)
	}
	h.event(ctx, r, Event{Action: EventDelete, Kind: "manifest", Repo: repo, Digest: ref})
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) blobDigest(ref string) (Digest, error) {
	d, err := ParseDigest(ref)
	if err != nil {
		return d, errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	return d, nil
}

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	d, err := h.blobDigest(ref)
	if err != nil {
		return err
	}
	if _, err := h.Store.BlobSize(r.Context(), repo, d.String()); err != nil {
		return notFound(err, "BLOB_UNKNOWN", "blob %s is not in %s", d, repo)
	}
	if err := h.BlobGate(r.Context(), repo, d.String(), r.Method == http.MethodHead); err != nil {
		return errorf(http.StatusForbidden, "DENIED", "%v", err)
	}
	f, err := h.Blobs.Open(r.Context(), d)
	if errors.Is(err, ErrBlobUnknown) {
		return errorf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s is missing from the blob store", d)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+d.String()+`"`)
	http.ServeContent(w, r, "", zeroTime, f)
	return nil
}

func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	d, err := h.blobDigest(ref)
	if err != nil {
		return err
	}
	if err := h.Store.UnlinkBlob(r.Context(), repo, d.String()); err != nil {
		return notFound(err, "BLOB_UNKNOWN", "blob %s is not in %s", d, repo)
	}
	w.WriteHeader(http.StatusAccepted)
	h.event(r.Context(), r, Event{Action: EventDelete, Kind: "blob", Repo: repo, Digest: d.String()})
	return nil
}

func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, repo string) error {
	ctx := r.Context()
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		d, err := h.blobDigest(mount)
		if err != nil {
			return err
		}
		if from, ok := h.mountSource(r, d, q.Get("from")); ok {
			size, err := h.Store.BlobSize(ctx, from, d.String())
			if err != nil {
				return err
			}
			if err := h.Store.LinkBlob(ctx, repo, d.String(), size); err != nil {
				return err
			}
			w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d.String())
			w.Header().Set("Docker-Content-Digest", d.String())
			h.event(ctx, r, Event{Action: EventMount, Kind: "blob", Repo: repo, Digest: d.String(), Tag: "from " + from})
			w.WriteHeader(http.StatusCreated)
			return nil
		}
		// Not mountable: an ordinary upload, as the spec says.
	}
	id, err := h.Blobs.NewUpload(r.Context())
	if err != nil {
		return err
	}
	if err := h.Store.StartUpload(ctx, id, repo); err != nil {
		h.Blobs.Cancel(r.Context(), id)
		return err
	}
	if dg := q.Get("digest"); dg != "" {
		return h.commit(w, r, repo, id, dg)
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", "0-0")
	w.Header().Set("OCI-Chunk-Min-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mountSource picks the repository a blob is mounted from: from, or with
// no from (anonymous mount) any repository holding it; either way only
// one the caller could pull the blob from, as the blob gate judges a GET
// there, so a mount never copies a refused image's layer (or another
// project's blob) into a repository where nothing refuses it. Otherwise
// the client uploads, as the spec says.
func (h *Handler) mountSource(r *http.Request, d Digest, from string) (string, bool) {
	readable := func(repo string) bool {
		if !h.CanRead(r, repo) {
			return false
		}
		if _, err := h.Store.BlobSize(r.Context(), repo, d.String()); err != nil {
			return false
		}
		return h.BlobGate(r.Context(), repo, d.String(), false) == nil
	}
	if from != "" {
		return from, nameRE.MatchString(from) && readable(from)
	}
	holders, err := h.Store.BlobHolders(r.Context(), d.String())
	if err != nil {
		return "", false
	}
	for _, repo := range holders {
		if readable(repo) {
			return repo, true
		}
	}
	return "", false
}

// upload checks that id is an upload session of repo.
func (h *Handler) upload(ctx context.Context, repo, id string) error {
	got, err := h.Store.UploadRepo(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && got != repo) {
		return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s is not known in %s", id, repo)
	}
	return err
}

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, repo, id string) error {
	if err := h.upload(r.Context(), repo, id); err != nil {
		return err
	}
	size, err := h.Blobs.UploadSize(r.Context(), id)
	if err != nil {
		return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s: %v", id, err)
	}
	progress(w, repo, id, size)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func progress(w http.ResponseWriter, repo, id string, size int64) {
	end := size - 1
	if end < 0 {
		end = 0
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", fmt.Sprintf("0-%d", end))
}

// appendChunk appends the request body, checking Content-Range against
// what the upload holds.
func (h *Handler) appendChunk(r *http.Request, id string) (int64, error) {
	size, err := h.Blobs.UploadSize(r.Context(), id)
	if err != nil {
		return 0, errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload %s: %v", id, err)
	}
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseRange(cr)
		if !ok || start != size || end < start {
			return 0, errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "Content-Range %s does not continue the upload (it holds %d bytes)", cr, size)
		}
		if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
			return 0, errorf(http.StatusBadRequest, "SIZE_INVALID", "Content-Range %s does not match Content-Length %d", cr, r.ContentLength)
		}
	}
	max := h.MaxBlob
	if max <= 0 {
		max = 1 << 40
	}
	n, err := h.Blobs.Append(r.Context(), id, r.Body, max)
	if err != nil && n > max {
		return n, errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "%v", err)
	}
	return n, err
}

func parseRange(s string) (int64, int64, bool) {
	s = strings.TrimPrefix(s, "bytes=")
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	return start, end, err1 == nil && err2 == nil
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, repo, id string) error {
	if err := h.upload(r.Context(), repo, id); err != nil {
		return err
	}
	size, err := h.appendChunk(r, id)
	if err != nil {
		return err
	}
	progress(w, repo, id, size)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, repo, id string) error {
	if err := h.upload(r.Context(), repo, id); err != nil {
		return err
	}
	return h.commit(w, r, repo, id, r.URL.Query().Get("digest"))
}

// commit appends the request body (the last chunk, or a monolithic
// upload) and moves the upload into place as blob dg.
func (h *Handler) commit(w http.ResponseWriter, r *http.Request, repo, id, dg string) error {
	ctx := r.Context()
	d, err := ParseDigest(dg)
	if err != nil {
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	if _, err := h.appendChunk(r, id); err != nil {
		return err
	}
	size, err := h.Blobs.Commit(r.Context(), id, d)
	if errors.Is(err, ErrDigestMismatch) {
		h.Store.EndUpload(ctx, id)
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "the uploaded content does not match %s", d)
	}
	if err != nil {
		return err
	}
	if err := h.Store.LinkBlob(ctx, repo, d.String(), size); err != nil {
		return err
	}
	h.Store.EndUpload(ctx, id)
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	h.event(ctx, r, Event{Action: EventPush, Kind: "blob", Repo: repo, Digest: d.String()})
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, repo, id string) error {
	if err := h.upload(r.Context(), repo, id); err != nil {
		return err
	}
	h.Blobs.Cancel(r.Context(), id)
	if err := h.Store.EndUpload(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pageArgs reads n and last; n < 0 means no limit.
func pageArgs(r *http.Request) (int, string, error) {
	q := r.URL.Query()
	n := -1
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", errorf(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "n=%q", s)
		}
		n = v
	}
	return n, q.Get("last"), nil
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, repo string) error {
	n, last, err := pageArgs(r)
	if err != nil {
		return err
	}
	var tags []string
	var more bool
	if n != 0 {
		if tags, more, err = h.Store.Tags(r.Context(), repo, last, n); err != nil {
			return err
		}
	}
	if len(tags) == 0 && last == "" {
		exists, err := h.Store.RepoExists(r.Context(), repo)
		if err != nil {
			return err
		}
		if !exists {
			return errorf(http.StatusNotFound, "NAME_UNKNOWN", "repository %s is not known", repo)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	if more {
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, repo, n, url.QueryEscape(tags[len(tags)-1])))
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) error {
	n, last, err := pageArgs(r)
	if err != nil {
		return err
	}
	repos := []string{}
	var more bool
	if n != 0 {
		if repos, more, err = h.Store.Repositories(r.Context(), last, n); err != nil {
			return err
		}
	}
	if more {
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?n=%d&last=%s>; rel="next"`, n, url.QueryEscape(repos[len(repos)-1])))
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"repositories": repos})
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	d, err := ParseDigest(ref)
	if err != nil {
		return errorf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	ms, err := h.Store.Referrers(r.Context(), repo, d.String())
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("artifactType")
	out := []descriptor{}
	for _, m := range ms {
		if filter != "" && m.ArtifactType != filter {
			continue
		}
		out = append(out, descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Content)), ArtifactType: m.ArtifactType, Annotations: m.Annotations})
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(map[string]any{"schemaVersion": 2, "mediaType": ociIndex, "manifests": out})
	w.Header().Set("Content-Type", ociIndex)
	w.Write(buf.Bytes())
	return nil
}
