package server

import (
	"context"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestBenchmarkRuns: the CIS benchmarks are scheduled (weekly by
// default in bulwark serve), each run is kept with its report and
// recorded in the audit trail, and the API lists the runs (the trend),
// returns one with its evidence and queues one on demand.
func TestBenchmarkRuns(t *testing.T) {
	testenv.NeedDocker(t)
	cfgDir := testenv.CorpusPath(t, "cis/kube-bench/cfg")
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		data := t.TempDir()
		cfg := Config{DataDir: data, Database: dsn, AdminPassword: adminPW,
			Benchmarks: Benchmarks{DockerSchedule: "@weekly", KubernetesSchedule: "0 3 * * 1", KubernetesConfigDir: cfgDir, KubernetesBenchmark: "cis-1.12"}}
		s, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		scheduled := func(s *Server) map[string]string {
			scs, err := s.store.Schedules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, sc := range scs {
				if strings.HasPrefix(sc.Name, "cis-") {
					out[sc.Name] = sc.Kind + " " + sc.Spec
				}
			}
			return out
		}
		if got := scheduled(s); got["cis-docker"] != "cis.docker @weekly" || got["cis-kubernetes"] != "cis.kubernetes 0 3 * * 1" {
			t.Errorf("schedules %v", got)
		}
		ts := serveHTTP(t, s)
		ts.user(t, "dev", "dev-password", "shop", "developer")

		for range 2 {
			if _, err := s.RunDockerBenchmark(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RunKubernetesBenchmark(ctx); err != nil {
			t.Fatal(err)
		}
		code, body := ts.call(t, "admin", adminPW, "GET", "/api/v1/benchmarks?kind=docker", "")
		runs, _ := body["runs"].([]any)
		if code != 200 || len(runs) != 2 {
			t.Fatalf("list: %d %v", code, body)
		}
		first, second := runs[0].(map[string]any), runs[1].(map[string]any)
		if first["started"].(string) < second["started"].(string) || first["report"] != nil {
			t.Errorf("runs not newest first, or listed with their reports: %v", runs)
		}
		summary := first["summary"].(map[string]any)
		if summary["PASS"].(float64) == 0 || summary["WARN"].(float64) == 0 {
			t.Errorf("summary %v", summary)
		}
		code, body = ts.call(t, "admin", adminPW, "GET", "/api/v1/benchmarks/"+first["id"].(string), "")
		report, _ := body["report"].(map[string]any)
		if code != 200 || report["dockerbenchsecurity"] != "1.6.0" || report["checks"].(float64) < 50 {
			t.Fatalf("get: %d %v", code, body)
		}
		code, body = ts.call(t, "admin", adminPW, "GET", "/api/v1/benchmarks?kind=kubernetes", "")
		if runs, _ := body["runs"].([]any); code != 200 || len(runs) != 1 {
			t.Fatalf("kubernetes runs: %d %v", code, body)
		}
		for _, c := range []struct {
			user, pw, method, path string
			want                   int
		}{
			{"dev", "dev-password", "GET", "/api/v1/benchmarks", 403},
			{"admin", adminPW, "GET", "/api/v1/benchmarks?kind=windows", 400},
			{"admin", adminPW, "GET", "/api/v1/benchmarks?limit=0", 400},
			{"admin", adminPW, "GET", "/api/v1/benchmarks/docker-1", 404},
			{"admin", adminPW, "POST", "/api/v1/benchmarks/windows/run", 404},
			{"dev", "dev-password", "POST", "/api/v1/benchmarks/docker/run", 403},
			{"admin", adminPW, "POST", "/api/v1/benchmarks/docker/run", 202},
		} {
			if code, body := ts.call(t, c.user, c.pw, c.method, c.path, ""); code != c.want {
				t.Errorf("%s %s as %s: %d %v, want %d", c.method, c.path, c.user, code, body, c.want)
			}
		}
		jobs, err := s.store.Jobs(ctx, kindCISDocker, "", 10)
		if err != nil || len(jobs) != 1 {
			t.Errorf("queued runs: %v %v", jobs, err)
		}
		trail := map[string]int{}
		s.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
			if r.Action == "benchmark.run" {
				trail[r.Outcome]++
			}
			return nil
		})
		if trail["success"] != 3 {
			t.Errorf("benchmark runs in the audit trail: %v", trail)
		}
		s.Close()

		// Turned off: the schedule goes; the runs stay.
		cfg.Benchmarks = Benchmarks{}
		s2, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if got := scheduled(s2); len(got) != 0 {
			t.Errorf("schedules left: %v", got)
		}
		if runs, _ := s2.store.BenchmarkRuns(ctx, "", 0); len(runs) != 3 {
			t.Errorf("%d runs kept", len(runs))
		}
	})
}

func TestBenchmarkScheduleErrors(t *testing.T) {
	for _, tc := range []struct {
		b    Benchmarks
		want string
	}{
		{Benchmarks{DockerSchedule: "every tuesday"}, `--cis-docker-schedule "every tuesday"`},
		{Benchmarks{KubernetesSchedule: "@weekly"}, "needs --cis-kubernetes-config-dir"},
		{Benchmarks{KubernetesSchedule: "61 * * * *", KubernetesConfigDir: "/x"}, `--cis-kubernetes-schedule "61 * * * *"`},
	} {
		_, err := New(context.Background(), Config{DataDir: t.TempDir(), AdminPassword: adminPW, Benchmarks: tc.b})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.b, err, tc.want)
		}
	}
}
