// Package server wires bulwark's packages to HTTP: the OCI registry under
// /v2/, health and readiness probes, Prometheus metrics. No policy lives
// here; it only connects the store, the registry, the gate and the audit
// trail.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/audit"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/jobs"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/scanner"
	"bulwark.dev/bulwark/internal/sla"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/verdict"
)

// Config is what `bulwark serve` is started with.
type Config struct {
	// DataDir holds the blob store and, by default, the SQLite database.
	DataDir string
	// Database is a PostgreSQL URL; empty means SQLite in DataDir.
	Database string
	// Blobs is an s3:// URL for blob storage; empty means DataDir.
	Blobs  string
	Logger *slog.Logger
	// AdminPassword is the first start's admin password
	// (BULWARK_ADMIN_PASSWORD); empty: generated and given to
	// OnAdminPassword once.
	AdminPassword   string
	OnAdminPassword func(password string)
	// VulnDB is the vulnerability database scans use.
	VulnDB string
	// Workers is how many scans run at once on this replica (default 2:
	// one slow image never holds up the queue).
	Workers int
	// ScanTimeout is one image's scan deadline (default 15 minutes).
	ScanTimeout time.Duration
	// ScanLease is how long a claimed scan job stays with a worker that
	// stops renewing it (default two minutes).
	ScanLease time.Duration
	// Version is bulwark's version, recorded in scan results.
	Version string
	// DefaultPolicy is the pull policy (JSON) of projects without their
	// own; empty means policy.DefaultPullPolicy.
	DefaultPolicy string
	// SIEM are the audit export targets.
	SIEM []SIEMTarget
	// AuditRetention is how long audit records are kept (at least, and
	// by default, audit.MinRetention).
	AuditRetention time.Duration
	// SLA is the patch clock's policy (zero: critical and high within 72
	// hours); warnings and breaches are announced hourly in the audit
	// trail, once each.
	SLA sla.Policy
	// Benchmarks are the CIS benchmarks run on a schedule.
	Benchmarks Benchmarks
	// Inventory is the cluster whose running pods count in the patch
	// clock.
	Inventory Inventory
	// Admission configures the webhook at /admission/validate and
	// /admission/mutate (nil: enforce the defaults everywhere).
	Admission *admission.Config
	// RegistryHosts are the host[:port] names clients pull this
	// registry's images by: the webhook judges images named with them
	// and refuses the rest.
	RegistryHosts []string
}

// FileConfig is the --config file: settings that are not flags.
type FileConfig struct {
	// PullPolicy applies to every project without its own.
	PullPolicy json.RawMessage `json:"pullPolicy,omitempty"`
	// SIEM lists where the audit trail is exported.
	SIEM []SIEMTarget `json:"siem,omitempty"`
	// AuditRetention is how long audit records are kept: "400d" or a Go
	// duration; at least 90 days (the default).
	AuditRetention string `json:"auditRetention,omitempty"`
	// Admission is the admission webhook's configuration
	// (docs/admission.md).
	Admission json.RawMessage `json:"admission,omitempty"`
	// RegistryHosts are the names clients pull by (registry.example.com),
	// besides --addr.
	RegistryHosts []string `json:"registryHosts,omitempty"`
}

// Retention parses AuditRetention, refusing less than the 90-day minimum.
func (c *FileConfig) Retention() (time.Duration, error) {
	if c.AuditRetention == "" {
		return audit.MinRetention, nil
	}
	v := c.AuditRetention
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		if days, err = strconv.Atoi(n); err == nil {
			d = time.Duration(days) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil {
		return 0, fmt.Errorf("auditRetention %q: want days (\"400d\") or a duration", v)
	}
	if d < audit.MinRetention {
		return 0, fmt.Errorf("auditRetention %s is below the 90-day minimum: it can only be raised", v)
	}
	return d, nil
}

// SIEMTarget is one audit export: syslog (RFC 5424 over TCP or TLS, the
// message bulwark's structured data or CEF) or JSON lines over HTTP.
type SIEMTarget struct {
	Name string `json:"name"`
	// Syslog is HOST:PORT; HTTP is a collector URL. One of them.
	Syslog string `json:"syslog,omitempty"`
	HTTP   string `json:"http,omitempty"`
	// TLS for syslog; CAFile is the CA to trust (default: the system's).
	TLS    bool   `json:"tls,omitempty"`
	CAFile string `json:"caFile,omitempty"`
	// Format of syslog messages: rfc5424 (default) or cef; of HTTP
	// posts: ndjson (default) or chat.
	Format string `json:"format,omitempty"`
	// Headers for HTTP, e.g. Authorization. Never logged.
	Headers map[string]string `json:"headers,omitempty"`
	// Actions, when set, are the only audit actions sent: a notification
	// webhook for ["sla.breach", "sla.warning"].
	Actions []string `json:"actions,omitempty"`
}

func (t *SIEMTarget) check() error {
	if t.Name == "" {
		return errors.New("siem: every target needs a name")
	}
	if (t.Syslog == "") == (t.HTTP == "") {
		return fmt.Errorf("siem %s: give exactly one of syslog (HOST:PORT) and http (URL)", t.Name)
	}
	switch {
	case t.Syslog != "" && t.Format != "" && t.Format != "rfc5424" && t.Format != "cef":
		return fmt.Errorf("siem %s: format %q: want rfc5424 or cef for syslog", t.Name, t.Format)
	case t.HTTP != "" && t.Format != "" && t.Format != "ndjson" && t.Format != "chat":
		return fmt.Errorf("siem %s: format %q: want ndjson (records) or chat ({\"text\": ...}, for chat webhooks) for http", t.Name, t.Format)
	}
	for _, a := range t.Actions {
		if _, ok := audit.ParseAction(a); !ok {
			return fmt.Errorf("siem %s: action %q is not an audit action (docs/audit.md lists them)", t.Name, a)
		}
	}
	if t.Syslog != "" {
		if _, _, err := net.SplitHostPort(t.Syslog); err != nil {
			return fmt.Errorf("siem %s: syslog %q: %v", t.Name, t.Syslog, err)
		}
	}
	return nil
}

// sink builds the target's audit sink.
func (t *SIEMTarget) sink(version string) (audit.Sink, error) {
	if t.HTTP != "" {
		h := http.Header{}
		for k, v := range t.Headers {
			h.Set(k, v)
		}
		return &audit.HTTPSink{URL: t.HTTP, Header: h, Chat: t.Format == "chat"}, nil
	}
	s := &audit.Syslog{Addr: t.Syslog, Format: t.Format, Version: version}
	s.Hostname, _ = os.Hostname()
	if t.TLS {
		host, _, _ := net.SplitHostPort(t.Syslog)
		s.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("siem %s: caFile: %w", t.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("siem %s: caFile %s holds no certificate", t.Name, t.CAFile)
			}
			s.TLS.RootCAs = pool
		}
	}
	return s, nil
}

// LoadConfig reads a --config file (YAML or JSON; unknown keys are
// errors) and checks the policy in it.
func LoadConfig(file string) (*FileConfig, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var c FileConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("--config %s: %w", file, err)
	}
	if len(c.PullPolicy) > 0 {
		if _, err := policy.ParsePullPolicy(c.PullPolicy); err != nil {
			return nil, fmt.Errorf("--config %s: %w", file, err)
		}
	}
	for i := range c.SIEM {
		if err := c.SIEM[i].check(); err != nil {
			return nil, fmt.Errorf("--config %s: %w", file, err)
		}
	}
	if _, err := c.Retention(); err != nil {
		return nil, fmt.Errorf("--config %s: %w", file, err)
	}
	if _, err := admission.ParseConfig(c.Admission); err != nil {
		return nil, fmt.Errorf("--config %s: %w", file, err)
	}
	return &c, nil
}

// Server is a running bulwark server's state.
type Server struct {
	cfg     Config
	store   *store.Store
	blobs   registry.BlobStore
	metrics *metrics
	handler http.Handler
	auth    *identity.Authenticator
	tokens  *identity.Tokens
	audit   *audit.Log
	reg     *registry.Handler
	scanner *scanner.Scanner
	gate    *pullGate
	// projects known to exist, so pushes skip the insert.
	projects sync.Map
	touches  pullTouches
	limits   limiter
	jobs     *jobs.Runner
	// exporters are the SIEM exporters Start began.
	exporters []*audit.Exporter
}

// New opens the store and the blob store and builds the HTTP handler.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Once each, in the order given: the first is the name messages
	// tell users to push to.
	var hosts []string
	for _, h := range cfg.RegistryHosts {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	cfg.RegistryHosts = hosts
	dsn, sqlitePath := cfg.Database, ""
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "bulwark.db")
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		sqlitePath = strings.TrimPrefix(dsn, "sqlite://")
	}
	if err := prepareDataDir(cfg.DataDir, sqlitePath); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	var blobs registry.BlobStore
	if strings.HasPrefix(cfg.Blobs, "s3://") {
		blobs, err = registry.NewS3Blobs(ctx, cfg.Blobs, cfg.DataDir)
	} else if cfg.Blobs != "" {
		err = fmt.Errorf("--blobs %q: want s3://HOST[:PORT]/BUCKET[/PREFIX] (default: the data directory)", cfg.Blobs)
	} else {
		blobs, err = registry.NewFSBlobs(cfg.DataDir)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, blobs: blobs, metrics: newMetrics(), auth: &identity.Authenticator{Store: st}}
	secret, err := tokenSecret(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.tokens = &identity.Tokens{Secret: secret, Service: "bulwark"}
	if s.audit, err = audit.Open(ctx, st, filepath.Join(cfg.DataDir, "audit.key"), cfg.Logger); err != nil {
		st.Close()
		return nil, err
	}
	generated, created, err := s.auth.Bootstrap(ctx, cfg.AdminPassword)
	if err != nil {
		s.Close()
		return nil, err
	}
	if created {
		s.record(ctx, "system", audit.ActionUserCreate, "admin", audit.Success, map[string]any{"admin": true, "generated": generated != ""})
	}
	if s.cfg.AuditRetention < audit.MinRetention {
		s.cfg.AuditRetention = audit.MinRetention
	}
	// The configuration in force, so changes to it are on the record.
	siem := []string{}
	for _, t := range cfg.SIEM {
		siem = append(siem, t.Name)
	}
	s.record(ctx, "system", audit.ActionServerStart, dsnKind(dsn), audit.Success, map[string]any{"data": cfg.DataDir,
		"default_policy": cfg.DefaultPolicy, "siem": siem, "audit_retention": s.cfg.AuditRetention.String(),
		"blobs": strings.SplitN(cfg.Blobs, "?", 2)[0]})
	if generated != "" && cfg.OnAdminPassword != nil {
		cfg.OnAdminPassword(generated)
	}
	s.gate = &pullGate{s: s, now: time.Now, eval: &verdict.Evaluator{}}
	s.reg = &registry.Handler{Store: st, Blobs: blobs, Log: cfg.Logger, OnEvent: s.onEvent, CanRead: s.canRead, Gate: s.gate.check, BlobGate: s.gate.checkBlob, Immutable: s.immutable}
	reg := s.reg
	// Signatures are read from this registry in process.
	s.gate.eval.Remote = []remote.Option{remote.WithTransport(reg.Transport())}
	s.scanner = &scanner.Scanner{Store: st, Registry: reg, DBPath: cfg.VulnDB, CacheDir: filepath.Join(cfg.DataDir, "cache"),
		Logger: cfg.Logger, Version: cfg.Version, OnScanned: s.onScanned, JobTimeout: cfg.ScanTimeout}
	s.jobs = &jobs.Runner{Store: st, Lease: cfg.ScanLease, Logger: cfg.Logger, Kinds: map[string]jobs.Kind{
		scanner.JobKind:   s.scanner.Kind(),
		kindHourly:        {Handle: s.hourly, MaxAttempts: 1, Timeout: time.Hour},
		kindDaily:         {Handle: s.daily, MaxAttempts: 1, Timeout: 6 * time.Hour},
		kindSLA:           {Handle: s.slaJob, MaxAttempts: 1, Timeout: time.Hour},
		kindCISDocker:     {Handle: s.cisDockerJob, MaxAttempts: 1, Timeout: 30 * time.Minute},
		kindCISKubernetes: {Handle: s.cisKubernetesJob, MaxAttempts: 1, Timeout: time.Hour},
		kindInventory:     {Handle: s.inventoryJob, MaxAttempts: 1, Timeout: 5 * time.Minute},
	}}
	s.scanner.Queue = s.jobs
	if err := s.jobs.Schedule(ctx, "maintenance-hourly", "@hourly", kindHourly, ""); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.jobs.Schedule(ctx, "maintenance-daily", "@daily", kindDaily, ""); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.jobs.Schedule(ctx, "sla-hourly", "@hourly", kindSLA, ""); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.scheduleBenchmarks(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.scheduleInventory(ctx); err != nil {
		s.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", s.registryAuth(reg))
	mux.HandleFunc("GET /auth/token", s.token)
	s.routeAPI(mux)
	if err := s.routeAdmission(mux); err != nil {
		s.Close()
		return nil, err
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /metrics", s.metrics.serve)
	s.handler = s.metrics.wrap(mux)
	return s, nil
}

// Start runs the background work until ctx ends: scan workers and the
// vulnerability database watch that requeues every image when it
// changes.
func (s *Server) Start(ctx context.Context) {
	n := s.cfg.Workers
	if n <= 0 {
		n = 2
	}
	for i := 0; i < n; i++ {
		go s.jobs.Work(ctx)
	}
	go s.jobs.RunSchedules(ctx, time.Minute)
	if s.cfg.VulnDB != "" {
		go s.scanner.WatchDB(ctx, time.Minute)
	}
	go s.maintain(ctx)
	for _, t := range s.cfg.SIEM {
		sink, err := t.sink(s.cfg.Version)
		if err != nil {
			s.cfg.Logger.Error("SIEM export disabled", "target", t.Name, "err", err)
			continue
		}
		ex := &audit.Exporter{Store: s.store, Name: t.Name, Sink: sink, Logger: s.cfg.Logger}
		for _, name := range t.Actions {
			a, _ := audit.ParseAction(name) // checked by LoadConfig
			ex.Actions = append(ex.Actions, a)
		}
		s.exporters = append(s.exporters, ex)
		go ex.Run(ctx)
	}
}

func (s *Server) onScanned(ctx context.Context, sc *store.Scan) {
	s.gate.invalidate()
	s.record(ctx, "system", audit.ActionScanResult, sc.Repo+"@"+sc.Digest, audit.Success, map[string]any{
		"critical": sc.Critical, "high": sc.High, "medium": sc.Medium, "low": sc.Low, "unknown": sc.Unknown,
		"db_updated": sc.DBUpdated.UTC().Format(time.RFC3339)})
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Store is the server's store (for commands that act on it directly).
func (s *Server) Store() *store.Store { return s.store }

// Close commits the audit trail (with a final signed checkpoint) and
// releases the store.
func (s *Server) Close() error {
	var err error
	if s.audit != nil {
		err = s.audit.Close()
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// record appends to the audit trail; a failure is logged, since the
// action it describes has already happened.
func (s *Server) record(ctx context.Context, actor string, action audit.Action, object string, outcome audit.Outcome, detail map[string]any) {
	if err := s.audit.Record(ctx, audit.Entry{Actor: actor, Action: action, Object: object, Outcome: outcome, Detail: detail}); err != nil {
		s.cfg.Logger.Error("audit record failed", "action", action, "object", object, "err", err)
	}
}

func dsnKind(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") {
		return "postgres"
	}
	return "sqlite"
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// registryActions names the audit action of each registry event; a
// test holds it complete against every event the handler emits.
var registryActions = map[string]audit.Action{
	registry.EventPush: audit.ActionRegistryPush, registry.EventPull: audit.ActionRegistryPull,
	registry.EventDelete: audit.ActionRegistryDelete, registry.EventMount: audit.ActionRegistryMount,
}

func (s *Server) onEvent(ctx context.Context, e registry.Event) {
	s.metrics.event(e)
	object := e.Repo
	switch {
	case e.Digest != "":
		object += "@" + e.Digest
	case e.Tag != "":
		object += ":" + e.Tag
	}
	detail := map[string]any{"kind": e.Kind, "remote": e.Remote}
	for k, v := range map[string]string{"tag": e.Tag, "media_type": e.MediaType, "subject": e.Subject} {
		if v != "" {
			detail[k] = v
		}
	}
	if e.Denied != "" {
		detail["reason"] = e.Denied
		s.record(ctx, e.Actor, registryActions[e.Action], object, audit.Denied, detail)
		return
	}
	s.record(ctx, e.Actor, registryActions[e.Action], object, audit.Success, detail)
	if e.Action == registry.EventPull && e.Tag != "" {
		s.touchTag(ctx, e.Repo, e.Tag)
	}
	if e.Action == registry.EventPush && e.Image {
		if err := s.scanner.Enqueue(ctx, e.Repo, e.Digest); err != nil {
			s.cfg.Logger.Error("queue scan", "repo", e.Repo, "digest", e.Digest, "err", err)
		}
	}
	s.cfg.Logger.Debug("registry", "action", e.Action, "kind", e.Kind, "repo", e.Repo, "digest", e.Digest, "tag", e.Tag, "actor", e.Actor)
}
