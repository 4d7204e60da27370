package compliance

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/sla"
	"bulwark.dev/bulwark/internal/store"
)

// Fact is a property of the platform that a control rests on, judged
// from the server's store rather than from a check's report. Framework
// files map facts to controls under `facts:`, as they map checks under
// `controls:`.
type Fact struct {
	ID, Title string
}

// Facts are the platform facts, in report order.
var Facts = []Fact{
	{"BW-AUDIT-RETENTION", "The audit trail keeps every record for at least 90 days"},
	{"BW-AUDIT-RETENTION-1Y", "The audit trail keeps every record for at least a year"},
	{"BW-AUDIT-CHAIN", "The audit trail's hash chain and signed checkpoints verify"},
	{"BW-SCAN-COVERAGE", "Every tagged image has been scanned"},
	{"BW-PATCH-SLA", "No fixable vulnerability is past its patch deadline"},
	{"BW-IMAGE-SIGNED", "Every tagged image carries a signature"},
	{"BW-ADMISSION", "Workloads are admitted through bulwark's admission webhook"},
	{"BW-RUNTIME", "Running containers are watched and no critical runtime detection is open"},
}

func isFact(id string) bool {
	for _, f := range Facts {
		if f.ID == id {
			return true
		}
	}
	return false
}

// Window is how far back the admission and runtime facts look.
const Window = 30 * 24 * time.Hour

// Platform says where the facts are read and how they are judged.
type Platform struct {
	Store *store.Store
	// Where names the store in the report (a path, or a URL without its
	// password).
	Where string
	// Trusted are the audit checkpoint keys (none: the chain is manual).
	Trusted []ed25519.PublicKey
	// SLA is the patch deadline policy (zero: critical and high in 72 h).
	SLA sla.Policy
	// At is the assessment's time.
	At time.Time
}

// AddPlatform judges every fact from the server's store. The evidence is
// committed whole: a store that cannot be read adds nothing.
func (e *EvidenceSet) AddPlatform(ctx context.Context, p Platform) error {
	var evs []Evidence
	add := func(id string, st State, object, msg string) {
		evs = append(evs, Evidence{Source: "platform", ID: id, Status: st, Object: object, Message: msg, Input: p.Where})
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("platform facts from %s: %s: %w", p.Where, what, err)
	}

	// The audit trail.
	var retention []string
	var oldest time.Time
	var records int
	admitted, refused := 0, 0
	var lastReview time.Time
	visit := func(r *store.AuditRecord) {
		records++
		if oldest.IsZero() {
			oldest = r.At
		}
		switch r.Action {
		case audit.ActionServerStart.String(), audit.ActionAuditPrune.String():
			var d struct {
				A string `json:"audit_retention"`
				R string `json:"retention"`
			}
			json.Unmarshal([]byte(r.Detail), &d)
			if v := d.A + d.R; v != "" {
				retention = append(retention, v)
			}
		case audit.ActionAdmission.String():
			if r.At.After(p.At) || r.At.Before(p.At.Add(-Window)) {
				break
			}
			if r.Outcome == audit.Success.String() {
				admitted++
			} else {
				refused++
			}
			if r.At.After(lastReview) {
				lastReview = r.At
			}
		}
	}
	// One walk of the trail: the chain's verification when a key is
	// given, a plain read otherwise.
	var chain *audit.Report
	var err error
	if len(p.Trusted) > 0 {
		if chain, err = audit.VerifyEach(ctx, p.Store, p.Trusted, visit); err != nil {
			return fail("verifying the audit trail", err)
		}
	} else if err = p.Store.AuditRecords(ctx, func(r *store.AuditRecord) error { visit(r); return nil }); err != nil {
		return fail("the audit trail", err)
	}
	for _, r := range []struct {
		id  string
		min time.Duration
	}{{"BW-AUDIT-RETENTION", audit.MinRetention}, {"BW-AUDIT-RETENTION-1Y", 365 * 24 * time.Hour}} {
		if len(retention) == 0 {
			add(r.id, Manual, "audit trail", "no server start or prune on record says the retention in force")
			continue
		}
		bad := ""
		for _, v := range retention {
			if d, err := time.ParseDuration(v); err != nil || d < r.min {
				bad = v
			}
		}
		if bad != "" {
			add(r.id, Fail, "audit trail", fmt.Sprintf("a retention of %s was in force: below %d days (bulwark serve --config: audit.retention)", bad, int(r.min.Hours()/24)))
			continue
		}
		add(r.id, Pass, "audit trail", fmt.Sprintf("retention %s in force; %d records kept, the oldest of %s", retention[len(retention)-1], records, stamp(oldest)))
	}
	switch {
	case chain == nil:
		add("BW-AUDIT-CHAIN", Manual, "audit trail", "no trusted checkpoint key was given (--audit-key): run bulwark audit verify")
	case chain.Records == 0 && chain.OK():
		add("BW-AUDIT-CHAIN", Manual, "audit trail", "the audit trail is empty: nothing to verify")
	case chain.OK():
		add("BW-AUDIT-CHAIN", Pass, "audit trail", fmt.Sprintf("%d records (seq %d to %d) and %d signed checkpoints verify", chain.Records, chain.First, chain.Last, chain.Checkpoints))
	default:
		for _, pr := range chain.Problems {
			add("BW-AUDIT-CHAIN", Fail, fmt.Sprintf("audit record %d", pr.Seq), pr.What)
		}
	}

	// Images: every current tag's digest, scanned and signed.
	scannedImages, err := p.images(ctx, add)
	if err != nil {
		return fail("the registry's images", err)
	}

	// The patch clock.
	clocks, err := sla.ClocksAt(ctx, p.Store, p.At, p.SLA)
	if err != nil {
		return fail("the patch clock", err)
	}
	kept := 0
	for _, c := range clocks {
		if c.State == sla.Breached {
			add("BW-PATCH-SLA", Fail, c.Repo, fmt.Sprintf("%s in %s (%s) was due %s, fixed in %s; still in %s", c.Advisory, c.Package, c.Severity, stamp(c.Due), c.Fixed, strings.Join(append(c.Tags, c.Workloads...), ", ")))
			continue
		}
		kept++
	}
	switch {
	case kept > 0:
		add("BW-PATCH-SLA", Pass, "patch clock", fmt.Sprintf("%d clocks within their deadline or without one", kept))
	case len(clocks) == 0 && scannedImages > 0:
		add("BW-PATCH-SLA", Pass, "patch clock", fmt.Sprintf("no finding on record in the %d scanned tagged images or a running workload", scannedImages))
	}

	// Admission and runtime, over the window.
	if admitted+refused == 0 {
		add("BW-ADMISSION", Manual, "admission webhook", fmt.Sprintf("no admission review on record in the %d days to %s: the webhook is not installed, or nothing was deployed", int(Window.Hours()/24), stamp(p.At)))
	} else {
		add("BW-ADMISSION", Pass, "admission webhook", fmt.Sprintf("%d workloads reviewed in %d days (%d refused), the last at %s", admitted+refused, int(Window.Hours()/24), refused, stamp(lastReview)))
	}
	evsRT, err := p.Store.RuntimeEvents(ctx, store.RuntimeQuery{Since: p.At.Add(-Window), Limit: 1000})
	if err != nil {
		return fail("runtime detections", err)
	}
	lower := 0
	seen := 0
	for _, ev := range evsRT {
		if ev.At.After(p.At) {
			continue
		}
		seen++
		switch strings.ToLower(ev.Priority) {
		case "emergency", "alert", "critical":
			add("BW-RUNTIME", Fail, ev.ContainerName+" on "+ev.Hostname, fmt.Sprintf("%s (%s) at %s", ev.Rule, ev.Priority, stamp(ev.At)))
		default:
			lower++
		}
	}
	switch {
	case seen == 0:
		add("BW-RUNTIME", Manual, "runtime watch", fmt.Sprintf("no watch agent reported in the %d days to %s (bulwark watch --server)", int(Window.Hours()/24), stamp(p.At)))
	case lower > 0:
		add("BW-RUNTIME", Pass, "runtime watch", fmt.Sprintf("%d lower-priority detections in %d days", lower, int(Window.Hours()/24)))
	}

	b, _ := json.Marshal(evs)
	sum := sha256.Sum256(b)
	e.commit(Input{File: p.Where, Kind: "platform", SHA256: hex.EncodeToString(sum[:])}, evs)
	return nil
}

// images judges every tagged image: scanned, and signed (a cosign
// signature tag or a Sigstore bundle referrer; which keys a project
// trusts is its pull policy's business, judged at every pull). It
// returns how many were scanned. Two queries, whatever the number of
// images: a report on 10,000 must not make 30,000 round trips.
func (p Platform) images(ctx context.Context, add func(id string, st State, object, msg string)) (int, error) {
	all, err := p.Store.TaggedImages(ctx)
	if err != nil {
		return 0, err
	}
	refs, err := p.Store.AllReferrers(ctx)
	if err != nil {
		return 0, err
	}
	signedBy := map[string]bool{} // repo + " " + digest
	for _, r := range refs {
		if strings.HasPrefix(r.ArtifactType, "application/vnd.dev.sigstore.bundle") {
			if pt := r.Annotations["dev.sigstore.bundle.predicateType"]; pt == "" || pt == "https://sigstore.dev/cosign/sign/v1" {
				signedBy[r.Repo+" "+r.Subject] = true
			}
		}
	}
	var images []store.TaggedImage
	for _, im := range all {
		var keep []string
		for _, t := range im.Tags {
			if h, ok := strings.CutPrefix(t, "sha256-"); ok {
				// A cosign signature (or attestation, SBOM) tag: of the
				// image it names, not an image to judge.
				if d, ok := strings.CutSuffix(h, ".sig"); ok {
					signedBy[im.Repo+" sha256:"+d] = true
				}
				continue
			}
			keep = append(keep, t)
		}
		if len(keep) > 0 {
			im.Tags = keep
			images = append(images, im)
		}
	}
	scanned, signed := 0, 0
	for _, im := range images {
		object := fmt.Sprintf("%s@%s (%s)", im.Repo, im.Digest, strings.Join(im.Tags, ", "))
		problem, err := p.coverage(ctx, im)
		if err != nil {
			return 0, err
		}
		if problem != "" {
			add("BW-SCAN-COVERAGE", Fail, object, problem)
		} else {
			scanned++
		}
		if signedBy[im.Repo+" "+im.Digest] {
			signed++
		} else {
			add("BW-IMAGE-SIGNED", Fail, object, "no signature: neither a cosign .sig tag nor a Sigstore bundle referrer")
		}
	}
	if scanned > 0 {
		add("BW-SCAN-COVERAGE", Pass, "registry", fmt.Sprintf("%d tagged images scanned", scanned))
	}
	if signed > 0 {
		add("BW-IMAGE-SIGNED", Pass, "registry", fmt.Sprintf("%d tagged images signed", signed))
	}
	return scanned, nil
}

// coverage says what keeps a tagged image from counting as scanned
// ("" when nothing). An index is scanned when each of its images is
// (indexes are few: one read each).
func (p Platform) coverage(ctx context.Context, im store.TaggedImage) (string, error) {
	if !strings.Contains(im.MediaType, "index") && !strings.Contains(im.MediaType, "manifest.list") {
		if im.ScannedAt.IsZero() {
			return "not scanned: " + im.Digest, nil
		}
		return "", nil
	}
	refs, err := p.Store.ManifestRefs(ctx, im.Repo, im.Digest)
	if err != nil {
		return "", err
	}
	var missing []string
	children := 0
	for _, child := range refs {
		cm, err := p.Store.GetManifest(ctx, im.Repo, child)
		if errors.Is(err, store.ErrNotFound) || (err == nil && strings.Contains(cm.MediaType, "index")) {
			continue
		} else if err != nil {
			return "", err
		}
		children++
		if _, err := p.Store.ScanTime(ctx, child); errors.Is(err, store.ErrNotFound) {
			missing = append(missing, child)
		} else if err != nil {
			return "", err
		}
	}
	switch {
	case children == 0:
		return "an index with none of its images in the registry", nil
	case len(missing) > 0:
		return "not scanned: " + strings.Join(missing, ", "), nil
	}
	return "", nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
