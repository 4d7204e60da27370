// Command testregistry serves an in-memory registry on 127.0.0.1 for the
// bench scripts, pushes one random image to it and prints its reference;
// it serves until killed. No registry image can be pulled on the machines
// the benchmarks run on.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	repo := flag.String("repo", "bench/app:1", "repository and tag of the image to push")
	referrers := flag.Bool("referrers", true, "serve the OCI 1.1 referrers API")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	go func() {
		fail(http.Serve(ln, registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(*referrers))))
	}()
	ref, err := name.ParseReference(ln.Addr().String() + "/" + *repo)
	if err != nil {
		fail(err)
	}
	img, err := random.Image(4096, 3)
	if err != nil {
		fail(err)
	}
	if err := remote.Write(ref, img); err != nil {
		fail(err)
	}
	fmt.Println(ref.String())
	select {}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "testregistry:", err)
	os.Exit(1)
}
