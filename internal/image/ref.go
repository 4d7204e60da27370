// Package image opens container images from every place they live
// (registries, OCI layouts and archives, docker save archives, the local
// Docker Engine, plain root filesystems) behind one reference syntax, and
// reads their layers safely: hostile entries are refused, decompression is
// capped and every digest is checked.
package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind is the kind of place an image reference points at.
type Kind string

// The reference kinds, as written before the colon of a reference.
const (
	KindRegistry      Kind = "registry"
	KindOCI           Kind = "oci"
	KindOCIArchive    Kind = "oci-archive"
	KindDockerArchive Kind = "docker-archive"
	KindDocker        Kind = "docker"
	KindDir           Kind = "dir"
)

// Ref is a parsed image reference.
type Ref struct {
	Kind Kind
	// Path is the file or directory for oci, oci-archive, docker-archive
	// and dir references.
	Path string
	// Tag selects an image inside an OCI layout or archive
	// (org.opencontainers.image.ref.name) or a docker-archive (RepoTags).
	Tag string
	// Name is the registry reference or the Docker Engine image name.
	Name string
	// Raw is the reference as given.
	Raw string
}

func (r Ref) String() string { return r.Raw }

// ErrBadRef is returned, wrapped, for references that cannot be parsed.
var ErrBadRef = errors.New("invalid image reference")

// ParseRef parses the reference syntax shared by every command:
//
//	REGISTRY/REPO[:TAG|@DIGEST]   an image in a registry
//	oci:DIR[:TAG]                 an OCI image layout
//	oci-archive:FILE[:TAG]        a tar of an OCI image layout
//	docker-archive:FILE[:TAG]     a `docker save` tarball
//	docker:NAME                   an image in the local Docker Engine
//	dir:PATH                      a root filesystem
//	FILE.tar, DIR                 an existing archive or OCI layout, detected
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty reference", ErrBadRef)
	}
	r := Ref{Raw: s}
	if i := strings.Index(s, "://"); i > 0 {
		return Ref{}, fmt.Errorf("%w %q: a URL is not an image reference; write the registry host and repository without %s:// (for example ghcr.io/org/app:1.2)", ErrBadRef, s, s[:i])
	}
	kind, rest, ok := strings.Cut(s, ":")
	if ok && otherTransports[kind] {
		return Ref{}, fmt.Errorf("%w %q: %q is not a reference kind bulwark reads; use one of oci: oci-archive: docker-archive: docker: dir: (for podman, podman save -o x.tar IMAGE and read docker-archive:x.tar; see docs/references.md)", ErrBadRef, s, kind+":")
	}
	if ok {
		switch Kind(kind) {
		case KindOCI, KindOCIArchive, KindDockerArchive:
			r.Kind = Kind(kind)
			r.Path, r.Tag = splitPathTag(rest)
			if r.Path == "" {
				return Ref{}, fmt.Errorf("%w %q: missing path after %q", ErrBadRef, s, kind+":")
			}
			return r, nil
		case KindDir:
			r.Kind = KindDir
			r.Path = rest
			if r.Path == "" {
				return Ref{}, fmt.Errorf("%w %q: missing path after \"dir:\"", ErrBadRef, s)
			}
			return r, nil
		case KindDocker:
			r.Kind = KindDocker
			r.Name = rest
			if r.Name == "" {
				return Ref{}, fmt.Errorf("%w %q: missing image name after \"docker:\"", ErrBadRef, s)
			}
			return r, nil
		}
	}
	// An existing file or directory is detected by its content.
	if fi, err := os.Stat(s); err == nil {
		if fi.IsDir() {
			if _, err := os.Stat(filepath.Join(s, "oci-layout")); err == nil {
				return Ref{Kind: KindOCI, Path: s, Raw: s}, nil
			}
			return Ref{}, fmt.Errorf("%w %q: a directory without an oci-layout file; use dir:%s for a root filesystem", ErrBadRef, s, s)
		}
		k, err := sniffArchive(s)
		if err != nil {
			return Ref{}, fmt.Errorf("%w %q: %v", ErrBadRef, s, err)
		}
		return Ref{Kind: k, Path: s, Raw: s}, nil
	}
	if looksLikePath(s) {
		return Ref{}, fmt.Errorf("%w %q: no such file or directory", ErrBadRef, s)
	}
	if _, err := name.ParseReference(s, name.WeakValidation); err != nil {
		return Ref{}, fmt.Errorf("%w %q: not a file, directory or registry reference (%v); prefix it with one of oci: oci-archive: docker-archive: docker: dir: (see docs/references.md)", ErrBadRef, s, err)
	}
	r.Kind = KindRegistry
	r.Name = s
	return r, nil
}

// otherTransports are the reference prefixes of other tools (skopeo,
// podman, buildah) that bulwark does not read: naming them beats reading
// "podman:alpine" as the Docker Hub image podman, tag alpine.
var otherTransports = map[string]bool{
	"podman": true, "containers-storage": true, "docker-daemon": true, "ostree": true,
	"sif": true, "tarball": true, "registry": true, "file": true,
}

// looksLikePath says whether a reference that names nothing on disk was
// meant as a file: an absolute or relative path, or an archive's name.
func looksLikePath(s string) bool {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~") {
		return true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst"} {
		if strings.HasSuffix(s, ext) {
			return true
		}
	}
	return false
}

// splitPathTag splits "path:tag": the path is the longest prefix (ending
// before a colon) that exists, so docker-archive:a.tar:alpine:3.10 names
// the tag alpine:3.10 of a.tar. When no prefix exists, the first colon
// splits, and opening the path says it does not exist.
func splitPathTag(s string) (path, tag string) {
	if _, err := os.Stat(s); err == nil {
		return s, ""
	}
	for i := len(s) - 1; i > 0; i-- {
		if s[i] != ':' {
			continue
		}
		if _, err := os.Stat(s[:i]); err == nil {
			return s[:i], s[i+1:]
		}
	}
	if i := strings.IndexByte(s, ':'); i > 0 && !strings.ContainsAny(s[i+1:], "\\") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// sniffArchive tells a docker save tarball from an OCI layout tarball by
// the names of the entries, reading headers only.
func sniffArchive(path string) (Kind, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(r)
	for i := 0; i < 10000; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("not a tar archive: %w", err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "oci-layout":
			return KindOCIArchive, nil
		case "manifest.json":
			return KindDockerArchive, nil
		}
	}
	return "", errors.New("a tar archive with neither manifest.json (docker save) nor oci-layout (OCI)")
}
