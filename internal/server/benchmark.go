package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/dockerbench"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/kubebench"
	"bulwark.dev/bulwark/internal/store"
)

// Benchmark job kinds: a run of the CIS Docker Benchmark on the engine
// and host bulwark serve runs on, and of the CIS Kubernetes Benchmark
// from kube-bench's definitions on this node.
const (
	kindCISDocker     = "cis.docker"
	kindCISKubernetes = "cis.kubernetes"
)

// Benchmarks say which CIS benchmarks the server runs, and when. A
// schedule is a cron spec ("@weekly", "0 3 * * 1"); empty turns the
// benchmark off.
type Benchmarks struct {
	DockerSchedule string
	// DockerHost is the engine to judge (DOCKER_HOST's syntax; empty:
	// $DOCKER_HOST, else the local socket).
	DockerHost string
	// KubernetesSchedule runs kube-bench's definitions in
	// KubernetesConfigDir (its cfg/), for KubernetesBenchmark (empty:
	// the running API server's or kubelet's version decides).
	KubernetesSchedule, KubernetesConfigDir, KubernetesBenchmark string
}

var benchmarkSchedules = []struct{ name, kind string }{
	{"cis-docker", kindCISDocker},
	{"cis-kubernetes", kindCISKubernetes},
}

// scheduleBenchmarks puts the benchmarks' schedules in the store, or
// takes them out when turned off.
func (s *Server) scheduleBenchmarks(ctx context.Context) error {
	b := s.cfg.Benchmarks
	specs := map[string]string{kindCISDocker: b.DockerSchedule, kindCISKubernetes: b.KubernetesSchedule}
	if b.KubernetesSchedule != "" && b.KubernetesConfigDir == "" {
		return fmt.Errorf("--cis-kubernetes-schedule %q needs --cis-kubernetes-config-dir (kube-bench's cfg directory)", b.KubernetesSchedule)
	}
	for _, sc := range benchmarkSchedules {
		spec := specs[sc.kind]
		if spec == "" {
			if err := s.store.DeleteSchedule(ctx, sc.name); err != nil {
				return err
			}
			continue
		}
		if err := s.jobs.Schedule(ctx, sc.name, spec, sc.kind, ""); err != nil {
			return fmt.Errorf("--%s-schedule %q: %w", sc.name, spec, err)
		}
	}
	return nil
}

func (s *Server) cisDockerJob(ctx context.Context, _ *store.Job) error {
	_, err := s.RunDockerBenchmark(ctx)
	return err
}

func (s *Server) cisKubernetesJob(ctx context.Context, _ *store.Job) error {
	_, err := s.RunKubernetesBenchmark(ctx)
	return err
}

// RunDockerBenchmark runs the CIS Docker Benchmark on the configured
// engine and this host, and keeps the run.
func (s *Server) RunDockerBenchmark(ctx context.Context) (*store.BenchmarkRun, error) {
	started := time.Now()
	run, err := func() (*store.BenchmarkRun, error) {
		dc, err := image.NewDockerClient(s.cfg.Benchmarks.DockerHost)
		if err != nil {
			return nil, err
		}
		h, err := dockerbench.Gather(ctx, dc, dockerbench.GatherOptions{Root: "/", Getenv: os.Getenv, AuditRules: dockerbench.AuditctlRules})
		if err != nil {
			return nil, err
		}
		cat, err := dockerbench.LoadCatalog()
		if err != nil {
			return nil, err
		}
		rep, err := dockerbench.Run(cat, h, dockerbench.Options{Now: started})
		if err != nil {
			return nil, err
		}
		rep.End = time.Now()
		var b bytes.Buffer
		if err := dockerbench.WriteJSON(&b, rep, true); err != nil {
			return nil, err
		}
		summary := map[string]int{"PASS": 0, "WARN": 0, "INFO": 0, "NOTE": 0}
		for _, r := range rep.Results {
			if !r.Heading {
				summary[string(r.Status)]++
			}
		}
		return &store.BenchmarkRun{Kind: "docker", Started: started, Finished: rep.End, Summary: summary, Score: rep.Score, Report: b.Bytes()}, nil
	}()
	return s.keepBenchmark(ctx, "docker", started, run, err)
}

// RunKubernetesBenchmark runs the CIS Kubernetes Benchmark on this node
// and keeps the run.
func (s *Server) RunKubernetesBenchmark(ctx context.Context) (*store.BenchmarkRun, error) {
	started := time.Now()
	run, err := func() (*store.BenchmarkRun, error) {
		b := s.cfg.Benchmarks
		cfg, err := kubebench.LoadConfig(b.KubernetesConfigDir)
		if err != nil {
			return nil, err
		}
		host := kubebench.Local{}
		o := kubebench.Options{Benchmark: b.KubernetesBenchmark}
		if o.Benchmark == "" {
			if o.KubeVersion, err = kubebench.DetectVersion(ctx, cfg, host); err != nil {
				return nil, err
			}
		}
		rep, err := kubebench.Run(ctx, cfg, host, o)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := kubebench.WriteJSON(&buf, rep); err != nil {
			return nil, err
		}
		t := rep.Totals
		summary := map[string]int{"PASS": t.Pass, "FAIL": t.Fail, "WARN": t.Warn, "INFO": t.Info}
		return &store.BenchmarkRun{Kind: "kubernetes", Started: started, Finished: time.Now(), Summary: summary, Score: t.Pass - t.Fail, Report: buf.Bytes()}, nil
	}()
	return s.keepBenchmark(ctx, "kubernetes", started, run, err)
}

// keepBenchmark stores a run and records it (or the failure to run) in
// the audit trail.
func (s *Server) keepBenchmark(ctx context.Context, kind string, started time.Time, run *store.BenchmarkRun, err error) (*store.BenchmarkRun, error) {
	if err != nil {
		s.record(ctx, "system", audit.ActionBenchmarkRun, kind, audit.Failure, map[string]any{"kind": kind, "error": err.Error()})
		return nil, fmt.Errorf("CIS %s benchmark: %w", kind, err)
	}
	run.Host, _ = os.Hostname()
	if err := s.store.AddBenchmarkRun(ctx, run); err != nil {
		return nil, err
	}
	s.record(ctx, "system", audit.ActionBenchmarkRun, run.ID, audit.Success, map[string]any{"kind": kind, "score": run.Score, "summary": run.Summary, "started": started.UTC().Format(time.RFC3339)})
	return run, nil
}

// listBenchmarks is the trend: every kept run's counts and score,
// newest first.
func (s *Server) listBenchmarks(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	kind := r.URL.Query().Get("kind")
	switch kind {
	case "", "docker", "kubernetes":
	default:
		return apiErrorf(http.StatusBadRequest, "kind %q: want docker or kubernetes", kind)
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apiErrorf(http.StatusBadRequest, "limit %q: want 1 to 1000", v)
		}
		limit = n
	}
	runs, err := s.store.BenchmarkRuns(r.Context(), kind, limit)
	if err != nil {
		return err
	}
	return writeAPI(w, http.StatusOK, map[string]any{"runs": runs})
}

// getBenchmark is one run with its report, the evidence.
func (s *Server) getBenchmark(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	run, err := s.store.BenchmarkRun(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return apiErrorf(http.StatusNotFound, "no benchmark run %q", r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	return writeAPI(w, http.StatusOK, run)
}

// runBenchmark queues a run now, outside the schedule.
func (s *Server) runBenchmark(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	kind := map[string]string{"docker": kindCISDocker, "kubernetes": kindCISKubernetes}[r.PathValue("kind")]
	if kind == "" {
		return apiErrorf(http.StatusNotFound, "no benchmark %q: docker or kubernetes", r.PathValue("kind"))
	}
	if kind == kindCISKubernetes && s.cfg.Benchmarks.KubernetesConfigDir == "" {
		return apiErrorf(http.StatusConflict, "the Kubernetes benchmark needs bulwark serve --cis-kubernetes-config-dir")
	}
	if err := s.jobs.Enqueue(r.Context(), kind, fmt.Sprint(time.Now().UnixNano()), ""); err != nil {
		return err
	}
	return writeAPI(w, http.StatusAccepted, map[string]any{"queued": kind})
}
