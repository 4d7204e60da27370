// Command admissionload sends AdmissionReviews to a webhook over HTTPS,
// as an API server does, for bench/admission.sh: -clients concurrent
// senders, each at most -rate/-clients requests a second (0: as fast as
// answers come), for -duration. It prints one JSON object: requests per
// second, latency percentiles, and how many answers were allowed,
// denied or failed.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "https://127.0.0.1:8443/admission/validate", "webhook URL")
	caFile := flag.String("ca", "", "CA of the webhook's certificate (PEM)")
	reviewFile := flag.String("review", "", "AdmissionReview request (JSON); its uid is made unique per request")
	clients := flag.Int("clients", 100, "concurrent senders")
	rate := flag.Float64("rate", 0, "requests per second in all (0: unpaced)")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()
	review, err := os.ReadFile(*reviewFile)
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(*caFile)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		fail(fmt.Errorf("-ca %s: %v", *caFile, err))
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: *clients * 2, ForceAttemptHTTP2: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	counts := map[string]int{}
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(*clients) / *rate)
	}
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			next := time.Now().Add(time.Duration(c) * interval / time.Duration(*clients))
			for i := 0; time.Now().Before(stop); i++ {
				if interval > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
				}
				body := bytes.Replace(review, []byte(`"uid": "`), []byte(fmt.Sprintf(`"uid": "%d-%d-`, c, i)), 1)
				t0 := time.Now()
				outcome := send(client, *url, body)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				counts[outcome]++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	out := map[string]any{"clients": *clients, "rate": *rate, "requests": len(lat), "rps": float64(len(lat)) / elapsed.Seconds(),
		"p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1), "outcomes": counts}
	json.NewEncoder(os.Stdout).Encode(out)
}

func send(c *http.Client, url string, body []byte) string {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "error"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("http-%d", resp.StatusCode)
	case strings.Contains(string(b), `"allowed":true`):
		return "allowed"
	default:
		return "denied"
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "admissionload:", err)
	os.Exit(2)
}
