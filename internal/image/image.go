package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Image is an opened image: its configuration and its layers, ready to be
// read in order. A root filesystem (dir:) has no layers and sets Dir.
type Image struct {
	Ref Ref
	// Name is the repository or path, without tag or digest.
	Name string
	Tag  string
	// Digest is the manifest digest; empty when the source has no
	// manifest (docker-archive, docker, dir).
	Digest string
	// ID is the digest of the configuration blob.
	ID        string
	Config    *v1.ConfigFile
	RawConfig []byte
	Platform  string
	Layers    []*Layer
	// Dir is the root filesystem of a dir: reference.
	Dir string
	// Notice says something the user must know about where the image
	// came from (read from the Docker Engine because the registry could
	// not be reached).
	Notice string

	cleanup []func() error
}

// Close releases temporary files held by the image.
func (img *Image) Close() error {
	var errs []error
	for i := len(img.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, img.cleanup[i]())
	}
	img.cleanup = nil
	return errors.Join(errs...)
}

// Created is the image creation time from its configuration.
func (img *Image) Created() time.Time {
	if img.Config == nil {
		return time.Time{}
	}
	return img.Config.Created.Time.UTC()
}

// Layer is one filesystem layer.
type Layer struct {
	Index int
	// DiffID is the digest of the uncompressed tar.
	DiffID string
	// Digest is the digest of the blob as stored; empty when unknown
	// (docker save archives record only diff IDs).
	Digest    string
	MediaType string
	// Size is the stored size in bytes, or -1 when unknown.
	Size int64
	// CreatedBy is the history entry that created the layer.
	CreatedBy string

	open func() (io.ReadCloser, error)
}

// Options configure how images are opened.
type Options struct {
	// Platform selects an image from a multi-platform index. Empty means
	// the host's platform.
	Platform string
	// Insecure allows plain HTTP and unverified TLS for any registry.
	// Loopback registries always allow plain HTTP.
	Insecure bool
	// Keychain resolves registry credentials; nil means
	// ~/.docker/config.json and its credential helpers.
	Keychain authn.Keychain
	// DockerHost is the Docker Engine API address; empty means DOCKER_HOST
	// or unix:///var/run/docker.sock.
	DockerHost string
	// TempDir is where private temporary directories are made.
	TempDir string
}

func (o *Options) platform() (*v1.Platform, error) {
	s := o.Platform
	if s == "" {
		s = "linux/" + runtime.GOARCH
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", s, err)
	}
	return p, nil
}

// Open opens the image a reference points at. The caller must Close it.
func Open(ctx context.Context, ref Ref, opts Options) (*Image, error) {
	var (
		img *Image
		err error
	)
	switch ref.Kind {
	case KindRegistry:
		img, err = openRegistry(ctx, ref, opts)
		if err != nil && unreachable(err) {
			// As docker run does with a local image: when the registry
			// cannot be reached, the Engine's image of that name is read,
			// and the caller is told.
			if local, lerr := openDaemon(ctx, Ref{Kind: KindDocker, Name: ref.Name, Raw: ref.Raw}, opts); lerr == nil {
				local.Notice = fmt.Sprintf("the registry of %s could not be reached (%v); read the local Docker Engine's image of that name instead", ref.Name, rootCause(err))
				img, err = local, nil
			} else {
				err = fmt.Errorf("%w (the registry could not be reached; for an image in the local Docker Engine, write docker:%s)", err, ref.Name)
			}
		}
	case KindOCI:
		img, err = openLayout(ref.Path, ref, opts)
	case KindOCIArchive:
		img, err = openOCIArchive(ctx, ref, opts)
	case KindDockerArchive:
		img, err = openDockerArchive(ref.Path, ref, opts)
	case KindDocker:
		img, err = openDaemon(ctx, ref, opts)
	case KindDir:
		img, err = openDir(ref)
	default:
		err = fmt.Errorf("%w %q: unknown kind %q", ErrBadRef, ref.Raw, ref.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ref.Raw, err)
	}
	img.Ref = ref
	return img, nil
}

// unreachable says whether a registry error is the network's (no DNS
// name, connection refused, timeout) rather than the registry's answer.
func unreachable(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded)
}

// rootCause is the innermost error, for a short message.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func openDir(ref Ref) (*Image, error) {
	fi, err := os.Stat(ref.Path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", ref.Path)
	}
	return &Image{Name: ref.Path, Dir: ref.Path}, nil
}

// fromConfig fills the configuration-derived fields and checks that the
// configuration lists one diff ID per layer.
func (img *Image) fromConfig(raw []byte, cfg *v1.ConfigFile) error {
	img.RawConfig = raw
	img.Config = cfg
	img.ID = digestOf(raw)
	if cfg.OS != "" {
		img.Platform = cfg.OS + "/" + cfg.Architecture
		if cfg.Variant != "" {
			img.Platform += "/" + cfg.Variant
		}
	}
	if len(cfg.RootFS.DiffIDs) != len(img.Layers) {
		return fmt.Errorf("image configuration lists %d layer diff IDs but the manifest has %d layers", len(cfg.RootFS.DiffIDs), len(img.Layers))
	}
	var nonEmpty []string
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			nonEmpty = append(nonEmpty, h.CreatedBy)
		}
	}
	for i, l := range img.Layers {
		l.Index = i
		l.DiffID = cfg.RootFS.DiffIDs[i].String()
		if len(nonEmpty) == len(img.Layers) {
			l.CreatedBy = nonEmpty[i]
		}
	}
	return nil
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// checkDigest verifies that raw has the sha256 digest want.
func checkDigest(what string, raw []byte, want string) error {
	if !strings.HasPrefix(want, "sha256:") {
		// sha512 and others are checked by the registry client.
		return nil
	}
	if got := digestOf(raw); got != want {
		return fmt.Errorf("%w: %s has digest %s, expected %s", ErrDigestMismatch, what, got, want)
	}
	return nil
}

// ErrDigestMismatch is returned, wrapped, when content does not match the
// digest that refers to it.
var ErrDigestMismatch = errors.New("digest mismatch")
