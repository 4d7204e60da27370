package server

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/store"
)

// Runtime alerts from watch agents (bulwark watch --server): stored once
// each by the UUID the agent gave it, so a batch resent from the agent's
// spool after a lost reply adds nothing twice, and recorded in the audit
// trail (and so sent to the SIEM exporters) as runtime.alert.

const (
	maxRuntimeBatch     = 1000
	maxRuntimeBatchBody = 8 << 20
)

var alertUUIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// runtimeAlert is what the server reads of an alert; the rest is kept
// as sent.
type runtimeAlert struct {
	UUID         string         `json:"uuid"`
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
}

func mayReport(p *identity.Principal) bool {
	return p.Admin || (p.Robot && slices.Contains(p.Scopes, "*:"+identity.Report))
}

func (s *Server) postRuntimeEvents(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needLogin(p); err != nil {
		return err
	}
	if !mayReport(p) {
		return apiErrorf(http.StatusForbidden, "%s may not send runtime events: give the agent a robot with the scope \"*:report\"", p.Name)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRuntimeBatchBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxRuntimeBatchBody {
		return apiErrorf(http.StatusRequestEntityTooLarge, "request body: more than %d bytes; send at most %d events a request", maxRuntimeBatchBody, maxRuntimeBatch)
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return apiErrorf(http.StatusBadRequest, "request body: %v", err)
	}
	if len(body.Events) > maxRuntimeBatch {
		return apiErrorf(http.StatusRequestEntityTooLarge, "%d events: send at most %d a request", len(body.Events), maxRuntimeBatch)
	}
	now := time.Now()
	evs := make([]store.RuntimeEvent, 0, len(body.Events))
	alerts := make(map[string]runtimeAlert, len(body.Events))
	for i, raw := range body.Events {
		var a runtimeAlert
		if len(raw) > 64<<10 {
			return apiErrorf(http.StatusBadRequest, "events[%d]: more than 64 KiB", i)
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return apiErrorf(http.StatusBadRequest, "events[%d]: %v", i, err)
		}
		switch {
		case !alertUUIDRE.MatchString(a.UUID):
			return apiErrorf(http.StatusBadRequest, "events[%d]: uuid %q: want a lower-case UUID", i, a.UUID)
		case a.Rule == "" || len(a.Rule) > 512:
			return apiErrorf(http.StatusBadRequest, "events[%d]: rule: want 1 to 512 characters", i)
		case a.Time.IsZero():
			return apiErrorf(http.StatusBadRequest, "events[%d]: time: missing", i)
		}
		cid, _ := a.OutputFields["container.id"].(string)
		cname, _ := a.OutputFields["container.name"].(string)
		evs = append(evs, store.RuntimeEvent{UUID: a.UUID, Received: now, At: a.Time, Reporter: p.Name, Hostname: a.Hostname,
			Rule: a.Rule, Priority: a.Priority, ContainerID: cid, ContainerName: cname, Body: string(raw)})
		alerts[a.UUID] = a
	}
	added, err := s.store.AddRuntimeEvents(r.Context(), evs)
	if err != nil {
		return err
	}
	for _, e := range added {
		a := alerts[e.UUID]
		outcome := audit.Success
		if a.OutputFields["evt.res"] == "EPERM" {
			outcome = audit.Denied // prevention blocked it
		}
		object := e.ContainerName
		if object == "" {
			object = e.ContainerID
		}
		s.record(r.Context(), p.Name, audit.ActionRuntimeAlert, object, outcome, map[string]any{
			"uuid": e.UUID, "rule": e.Rule, "priority": e.Priority, "hostname": e.Hostname, "container_id": e.ContainerID,
			"time": e.At.UTC().Format(time.RFC3339Nano), "output": a.Output})
	}
	return writeAPI(w, http.StatusOK, map[string]int{"received": len(evs), "added": len(added)})
}

func (s *Server) listRuntimeEvents(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	q := store.RuntimeQuery{Container: r.URL.Query().Get("container"), Rule: r.URL.Query().Get("rule")}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return apiErrorf(http.StatusBadRequest, "since %q: want an RFC 3339 time such as 2026-12-01T08:00:00Z", v)
		}
		q.Since = t
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apiErrorf(http.StatusBadRequest, "limit %q: want 1 to 1000", v)
		}
		q.Limit = n
	}
	evs, err := s.store.RuntimeEvents(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]json.RawMessage, 0, len(evs))
	for _, e := range evs {
		out = append(out, json.RawMessage(e.Body))
	}
	return writeAPI(w, http.StatusOK, map[string]any{"events": out})
}
