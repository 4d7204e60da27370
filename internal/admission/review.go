package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/k8s"
)

// MaxRequest bounds an AdmissionReview body. The API server sends at
// most its own request limit (3 MiB objects) plus the old object.
const MaxRequest = 8 << 20

// Limits the API server puts on what it passes back to the client: it
// truncates warnings past 4096 bytes in all and drops long ones, and a
// denial message past a few kilobytes is unreadable in kubectl anyway.
const (
	maxMessage     = 4000
	maxWarning     = 256
	maxWarningsAll = 4000
)

// Errors that are not AdmissionReviews: the handler answers HTTP 400.
var errNotReview = errors.New("not an admission.k8s.io/v1 AdmissionReview")

// decodeReview reads an AdmissionReview. Only what is not an
// AdmissionReview at all (no request, no uid, another kind) is an error;
// a review whose object cannot be read is answered with a refusal.
func decodeReview(b []byte) (*admissionv1.AdmissionReview, error) {
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotReview, err)
	}
	if r.APIVersion != "admission.k8s.io/v1" || r.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: apiVersion %q kind %q (bulwark speaks admission.k8s.io/v1; set admissionReviewVersions: [v1])", errNotReview, r.APIVersion, r.Kind)
	}
	if r.Request == nil || r.Request.UID == "" {
		return nil, fmt.Errorf("%w: no request or no request uid", errNotReview)
	}
	return &r, nil
}

// Handler serves AdmissionReviews: validating when mutate is false.
func (w *Webhook) Handler(mutate bool) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", "POST")
			http.Error(rw, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequest+1))
		if err != nil {
			http.Error(rw, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > MaxRequest {
			http.Error(rw, fmt.Sprintf("the AdmissionReview is larger than %d bytes", MaxRequest), http.StatusRequestEntityTooLarge)
			return
		}
		out, err := w.Review(r.Context(), body, mutate)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(out)
	})
}

// Review answers one AdmissionReview body with the AdmissionReview to
// send back. Its error means the body is not an AdmissionReview (HTTP
// 400); everything else, an unreadable object included, is an answer.
func (w *Webhook) Review(ctx context.Context, body []byte, mutate bool) ([]byte, error) {
	rev, err := decodeReview(body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.Config.Deadline())
	defer cancel()
	var resp *admissionv1.AdmissionResponse
	if mutate {
		resp = w.mutate(ctx, rev.Request)
	} else {
		resp = w.validate(ctx, rev.Request)
	}
	resp.UID = rev.Request.UID
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: resp}
	return json.Marshal(out)
}

// objectName is how records and messages name the request's object.
func objectName(req *admissionv1.AdmissionRequest, ko *k8s.Object) string {
	name := req.Name
	if name == "" && ko != nil {
		name = ko.Name
	}
	if name == "" {
		// An unreadable object still names itself, usually.
		var m struct {
			Metadata struct{ Name, GenerateName string } `json:"metadata"`
		}
		json.Unmarshal(req.Object.Raw, &m)
		name = m.Metadata.Name
		if name == "" && m.Metadata.GenerateName != "" {
			name = m.Metadata.GenerateName + "*"
		}
	}
	kind := req.Kind.Kind
	if req.SubResource != "" {
		kind += "/" + req.SubResource
	}
	if req.Namespace != "" {
		return kind + " " + req.Namespace + "/" + name
	}
	return kind + " " + name
}

// judged reports whether the webhook judges this request's object.
func judged(req *admissionv1.AdmissionRequest) bool {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return false
	}
	switch req.SubResource {
	case "":
		_, ok := k8s.PodSpecPaths[req.Kind.Kind]
		return ok
	case "ephemeralcontainers":
		return req.Kind.Kind == "Pod"
	}
	return false
}

func (w *Webhook) validate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Operation == admissionv1.Connect && (req.SubResource == "exec" || req.SubResource == "attach") && req.Resource.Resource == "pods" {
		return w.connect(ctx, req)
	}
	if !judged(req) {
		if _, workload := k8s.PodSpecPaths[req.Kind.Kind]; workload || req.Kind.Kind == "Pod" {
			return &admissionv1.AdmissionResponse{Allowed: true} // a DELETE, a status update
		}
		// The webhook configuration sends what bulwark does not judge:
		// fail closed, and say how to fix the configuration.
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: fmt.Sprintf("bulwark judges workloads (pods and the kinds with a pod template), not %s %s: the webhook configuration's rules send it here; regenerate them with bulwark admission install --print", req.Operation, objectName(req, nil))}}
	}
	mode := w.Config.ModeOf(req.Namespace)
	ko, err := w.object(req)
	var v *Verdict
	if err != nil {
		v = &Verdict{Reasons: []Reason{{Kind: "unreadable", Message: fmt.Sprintf("%s cannot be read as the API server sent it (%v): denied, since what cannot be read cannot be checked", objectName(req, nil), err)}}}
	} else {
		v = w.JudgeObject(ctx, req.Namespace, ko)
	}
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	warnings := append([]string(nil), v.Warnings...)
	if !v.Allowed() {
		switch mode {
		case Enforce:
			resp.Allowed = false
			resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
				Message: denial(objectName(req, ko), v.Reasons)}
		case Warn:
			for _, r := range v.Reasons {
				warnings = append(warnings, "bulwark would deny: "+r.Message)
			}
		}
	}
	resp.Warnings = capWarnings(warnings)
	w.record(ctx, req, ko, mode, resp.Allowed, v)
	return resp
}

// object decodes the request's object. For an ephemeral container
// request only the containers being added are judged: the pod's others
// were judged when it was created.
func (w *Webhook) object(req *admissionv1.AdmissionRequest) (*k8s.Object, error) {
	if len(req.Object.Raw) == 0 {
		return nil, errors.New("the request has no object")
	}
	raw := req.Object.Raw
	if req.SubResource == "ephemeralcontainers" {
		var err error
		if raw, err = newEphemeral(req.Object.Raw, req.OldObject.Raw); err != nil {
			return nil, err
		}
	}
	ko, err := k8s.FromJSON("admission request", raw)
	if err != nil {
		return nil, err
	}
	if ko.Kind != req.Kind.Kind {
		return nil, fmt.Errorf("the request is for a %s but its object is a %s", req.Kind.Kind, ko.Kind)
	}
	if ko.Namespace == "" {
		ko.Namespace = req.Namespace
	}
	if ko.Name == "" {
		ko.Name = req.Name
	}
	if ko.Pod == nil {
		return nil, fmt.Errorf("a %s without a pod template", ko.Kind)
	}
	return ko, nil
}

// newEphemeral is the pod with only the ephemeral containers old does
// not have.
func newEphemeral(obj, old []byte) ([]byte, error) {
	var pod map[string]any
	if err := json.Unmarshal(obj, &pod); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	had := map[string]bool{}
	var oldPod struct {
		Spec struct {
			EphemeralContainers []struct {
				Name string `json:"name"`
			} `json:"ephemeralContainers"`
		} `json:"spec"`
	}
	if len(old) > 0 {
		if err := json.Unmarshal(old, &oldPod); err != nil {
			return nil, fmt.Errorf("the old object is not a pod: %w", err)
		}
	}
	for _, c := range oldPod.Spec.EphemeralContainers {
		had[c.Name] = true
	}
	spec, _ := pod["spec"].(map[string]any)
	if spec == nil {
		return nil, errors.New("the pod has no spec")
	}
	var added []any
	ecs, _ := spec["ephemeralContainers"].([]any)
	for _, c := range ecs {
		if m, ok := c.(map[string]any); ok && !had[fmt.Sprint(m["name"])] {
			added = append(added, c)
		}
	}
	spec["ephemeralContainers"] = added
	delete(spec, "containers")
	delete(spec, "initContainers")
	return json.Marshal(pod)
}

func (w *Webhook) connect(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	deny := matchAny(w.Config.Exec.Deny, req.Namespace)
	if deny {
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: fmt.Sprintf("bulwark denies %s into pods in namespace %s (admission.exec.deny): debug with an ephemeral container (kubectl debug), which is judged like any container", req.SubResource, req.Namespace)}
	}
	if deny || matchAny(w.Config.Exec.Record, req.Namespace) {
		var v Verdict
		if deny {
			v.Reasons = []Reason{{Kind: "exec", Message: resp.Result.Message}}
		}
		w.record(ctx, req, nil, Enforce, resp.Allowed, &v)
	}
	return resp
}

// denial is the refusal message: every reason, worst first as judged,
// within the size kubectl shows in full.
func denial(object string, rs []Reason) string {
	var b strings.Builder
	plural := "s"
	if len(rs) == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "bulwark denied %s (%d reason%s):", object, len(rs), plural)
	for i, r := range rs {
		line := "\n- " + r.Message
		if b.Len()+len(line) > maxMessage-60 {
			fmt.Fprintf(&b, "\n- and %d more: see bulwark's audit trail or run bulwark check on the manifest", len(rs)-i)
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

func capWarnings(ws []string) []string {
	var out []string
	total := 0
	for i, w := range ws {
		w = truncate(w, maxWarning)
		if total+len(w) > maxWarningsAll {
			out = append(out, fmt.Sprintf("and %d more warnings", len(ws)-i))
			break
		}
		total += len(w)
		out = append(out, w)
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

func dryRun(req *admissionv1.AdmissionRequest) bool { return req.DryRun != nil && *req.DryRun }

// record puts the decision into the audit trail, except for dry runs:
// the webhook declares sideEffects: NoneOnDryRun.
func (w *Webhook) record(ctx context.Context, req *admissionv1.AdmissionRequest, ko *k8s.Object, mode string, allowed bool, v *Verdict) {
	if dryRun(req) {
		return
	}
	outcome := audit.Success
	if !allowed {
		outcome = audit.Denied
	}
	detail := map[string]any{"mode": mode, "operation": string(req.Operation), "uid": string(req.UID), "allowed": allowed}
	if len(v.Reasons) > 0 {
		detail["reasons"] = v.Reasons
		if allowed {
			detail["would_deny"] = true
		}
	}
	if len(v.Warnings) > 0 {
		detail["warnings"] = v.Warnings
	}
	if len(v.Digests) > 0 {
		detail["digests"] = v.Digests
	}
	if v.Exempt != "" {
		detail["exempt"] = v.Exempt
	}
	if len(req.UserInfo.Groups) > 0 {
		detail["groups"] = req.UserInfo.Groups
	}
	e := audit.Entry{Actor: req.UserInfo.Username, Action: audit.ActionAdmission, Object: objectName(req, ko), Outcome: outcome, Detail: detail}
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	if w.Audit == nil {
		w.log().Info("admission decision", "actor", e.Actor, "object", e.Object, "outcome", outcome.String(), "detail", detail)
		return
	}
	// The decision is made; a record that fails is logged, not a reason
	// to refuse the cluster's request.
	if err := w.Audit.Record(context.WithoutCancel(ctx), e); err != nil {
		w.log().Error("audit record failed", "object", e.Object, "err", err)
	}
}
