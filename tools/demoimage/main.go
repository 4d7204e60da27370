// Command demoimage packs a small but real image for `make demo`: a base
// layer with this machine's OS release file and package database, and a
// second layer with the bulwark binary, written as an OCI layout.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	out := flag.String("out", "dist/demo", "OCI layout directory to write")
	bin := flag.String("bin", "dist/bulwark", "executable to put in the image")
	flag.Parse()
	if err := run(*out, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "demoimage:", err)
		os.Exit(1)
	}
}

func layer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		mode := int64(0o644)
		if fi, _ := os.Stat(src); fi != nil && fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: dst, Mode: mode, Size: int64(len(b)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

func run(out, bin string) error {
	base, err := layer(map[string]string{
		"etc/os-release":       "/etc/os-release",
		"var/lib/dpkg/status":  "/var/lib/dpkg/status",
		"lib/apk/db/installed": "/lib/apk/db/installed",
	})
	if err != nil {
		return err
	}
	app, err := layer(map[string]string{"usr/local/bin/bulwark": bin})
	if err != nil {
		return err
	}
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: base, History: v1.History{CreatedBy: "demo: the build machine's OS package database"}},
		mutate.Addendum{Layer: app, History: v1.History{CreatedBy: "COPY bulwark /usr/local/bin/bulwark"}})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(1735689600, 0).UTC()}
	cf.Config.Entrypoint = []string{"/usr/local/bin/bulwark"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	os.RemoveAll(out)
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "demo"}))
}
