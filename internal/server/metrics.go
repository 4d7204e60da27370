package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"bulwark.dev/bulwark/internal/registry"
)

// metrics are the server's Prometheus metrics, in the text exposition
// format (a handful of counters and one histogram do not need a client
// library).
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // (route, code)
	events   map[[2]string]uint64 // (action, kind)
	buckets  []float64
	hist     map[string][]uint64 // route -> bucket counts (+Inf last)
	sum      map[string]float64
	count    map[string]uint64
	started  time.Time
}

func newMetrics() *metrics {
	return &metrics{
		requests: map[[2]string]uint64{},
		events:   map[[2]string]uint64{},
		buckets:  []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		hist:     map[string][]uint64{},
		sum:      map[string]float64{},
		count:    map[string]uint64{},
		started:  time.Now(),
	}
}

// route names a request's handler without its variable parts, so the
// label set stays small.
func route(p string) string {
	switch {
	case p == "/v2/_catalog":
		return "registry_catalog"
	case p == "/auth/token":
		return "token"
	case strings.HasPrefix(p, "/v2/"):
		for _, k := range []string{"/manifests/", "/blobs/uploads", "/blobs/", "/tags/list", "/referrers/"} {
			if strings.Contains(p, k) {
				return "registry_" + strings.Trim(strings.ReplaceAll(k, "/", "_"), "_")
			}
		}
		return "registry_base"
	case p == "/healthz", p == "/readyz", p == "/metrics":
		return p[1:]
	case strings.HasPrefix(p, "/api/"):
		return "api"
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (m *metrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		rt := route(r.URL.Path)
		secs := time.Since(start).Seconds()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.requests[[2]string{rt, fmt.Sprint(sw.code)}]++
		h := m.hist[rt]
		if h == nil {
			h = make([]uint64, len(m.buckets)+1)
			m.hist[rt] = h
		}
		i := sort.SearchFloat64s(m.buckets, secs)
		h[i]++
		m.sum[rt] += secs
		m.count[rt]++
	})
}

func (m *metrics) event(e registry.Event) {
	m.mu.Lock()
	m.events[[2]string{e.Action, e.Kind}]++
	m.mu.Unlock()
}

func (m *metrics) serve(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP bulwark_http_requests_total HTTP requests by route and status code.")
	fmt.Fprintln(w, "# TYPE bulwark_http_requests_total counter")
	for _, k := range sortedKeys(m.requests) {
		fmt.Fprintf(w, "bulwark_http_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	fmt.Fprintln(w, "# HELP bulwark_registry_events_total Registry pushes, pulls, mounts and deletes.")
	fmt.Fprintln(w, "# TYPE bulwark_registry_events_total counter")
	for _, k := range sortedKeys(m.events) {
		fmt.Fprintf(w, "bulwark_registry_events_total{action=%q,kind=%q} %d\n", k[0], k[1], m.events[k])
	}
	fmt.Fprintln(w, "# HELP bulwark_http_request_duration_seconds HTTP request latency by route.")
	fmt.Fprintln(w, "# TYPE bulwark_http_request_duration_seconds histogram")
	routes := make([]string, 0, len(m.hist))
	for r := range m.hist {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, rt := range routes {
		var cum uint64
		for i, b := range m.buckets {
			cum += m.hist[rt][i]
			fmt.Fprintf(w, "bulwark_http_request_duration_seconds_bucket{route=%q,le=\"%g\"} %d\n", rt, b, cum)
		}
		cum += m.hist[rt][len(m.buckets)]
		fmt.Fprintf(w, "bulwark_http_request_duration_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", rt, cum)
		fmt.Fprintf(w, "bulwark_http_request_duration_seconds_sum{route=%q} %g\n", rt, m.sum[rt])
		fmt.Fprintf(w, "bulwark_http_request_duration_seconds_count{route=%q} %d\n", rt, m.count[rt])
	}
	fmt.Fprintln(w, "# HELP bulwark_uptime_seconds Seconds since the server started.")
	fmt.Fprintln(w, "# TYPE bulwark_uptime_seconds gauge")
	fmt.Fprintf(w, "bulwark_uptime_seconds %g\n", time.Since(m.started).Seconds())
}

func sortedKeys(m map[[2]string]uint64) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	return keys
}
