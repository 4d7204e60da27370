// Command loadgen drives a registry with concurrent clients, each pushing
// a small random image and pulling it back, for the bench scripts. It
// prints one JSON object: operations per second and latency percentiles
// of manifest GETs (where bulwark's pull gate runs) and of whole
// push+pull rounds.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	reg := flag.String("registry", "127.0.0.1:5000", "registry host:port (plain HTTP)")
	user := flag.String("user", "", "user name (Basic credentials on every request)")
	pass := flag.String("password", "", "password")
	clients := flag.Int("clients", 50, "concurrent clients")
	dur := flag.Duration("duration", 20*time.Second, "how long to run")
	size := flag.Int64("layer-size", 64<<10, "bytes per layer")
	layers := flag.Int64("layers", 2, "layers per image")
	flag.Parse()

	auth := remote.WithAuth(authn.Anonymous)
	if *user != "" {
		auth = remote.WithAuth(&authn.Basic{Username: *user, Password: *pass})
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *clients * 2
	opts := []remote.Option{auth, remote.WithTransport(tr)}

	var mu sync.Mutex
	var gets, rounds []time.Duration
	var errs int
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				img, _ := random.Image(*size, *layers)
				ref, _ := name.ParseReference(fmt.Sprintf("%s/bench/c%d:%d", *reg, c, i), name.Insecure)
				start := time.Now()
				err := remote.Write(ref, img, opts...)
				var got time.Duration
				if err == nil {
					g := time.Now()
					var desc *remote.Descriptor
					desc, err = remote.Get(ref, opts...)
					got = time.Since(g)
					if err == nil {
						err = pullLayers(desc)
					}
				}
				round := time.Since(start)
				mu.Lock()
				if err != nil {
					errs++
					if errs < 5 {
						fmt.Fprintln(os.Stderr, "error:", err)
					}
				} else {
					gets = append(gets, got)
					rounds = append(rounds, round)
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	out := map[string]any{
		"clients": *clients, "seconds": dur.Seconds(), "rounds": len(rounds), "errors": errs,
		"rounds_per_second": float64(len(rounds)) / dur.Seconds(),
		"manifest_get_ms":   percentiles(gets),
		"round_ms":          percentiles(rounds),
	}
	json.NewEncoder(os.Stdout).Encode(out)
	if errs > 0 {
		os.Exit(1)
	}
}

func percentiles(ds []time.Duration) map[string]float64 {
	if len(ds) == 0 {
		return nil
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	p := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	return map[string]float64{"p50": p(0.50), "p90": p(0.90), "p99": p(0.99), "max": p(1)}
}

// pullLayers reads every layer of a pulled image.
func pullLayers(desc *remote.Descriptor) error {
	img, err := desc.Image()
	if err != nil {
		return err
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
