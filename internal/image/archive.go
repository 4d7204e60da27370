package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// maxMetadataSize caps manifest.json, index.json and configuration blobs.
const maxMetadataSize = 16 << 20

// tarIndex records where each regular file of an uncompressed tar starts,
// so that members can be read with random access without extracting.
type tarIndex struct {
	f       *os.File
	entries map[string]tarSpan
}

type tarSpan struct{ off, size int64 }

func indexTar(f *os.File) (*tarIndex, error) {
	ix := &tarIndex{f: f, entries: map[string]tarSpan{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar reads headers exactly, so the file offset is the
		// start of this member's data.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		ix.entries[path.Clean(strings.TrimPrefix(h.Name, "./"))] = tarSpan{off, h.Size}
	}
	return ix, nil
}

func (ix *tarIndex) open(name string) (*io.SectionReader, error) {
	s, ok := ix.entries[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("archive has no member %q", name)
	}
	return io.NewSectionReader(ix.f, s.off, s.size), nil
}

func (ix *tarIndex) readSmall(name string) ([]byte, error) {
	r, err := ix.open(name)
	if err != nil {
		return nil, err
	}
	if r.Size() > maxMetadataSize {
		return nil, fmt.Errorf("archive member %q is %d bytes, over the %d byte limit for metadata", name, r.Size(), maxMetadataSize)
	}
	return io.ReadAll(r)
}

type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// openDockerArchive reads a `docker save` tarball in place: layers are
// read straight from their offsets in the archive.
func openDockerArchive(file string, ref Ref, opts Options) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	var cleanup []func() error
	if gz, err := isGzip(f); err != nil {
		f.Close()
		return nil, err
	} else if gz {
		// `docker save | gzip` archives need random access: decompress
		// once into a private file.
		plain, rm, err := gunzipToTemp(f, opts.TempDir)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("docker archive %s: %w", file, err)
		}
		f, cleanup = plain, []func() error{rm}
	}
	img, err := dockerArchive(f, file, ref.Tag)
	if err != nil {
		f.Close()
		for _, c := range cleanup {
			c()
		}
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	img.cleanup = append(img.cleanup, cleanup...)
	img.cleanup = append(img.cleanup, f.Close)
	return img, nil
}

func isGzip(f *os.File) (bool, error) {
	var magic [2]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && err != io.EOF {
		return false, err
	}
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b, nil
}

// maybeGunzip returns a reader of f's content, decompressed if gzipped.
func maybeGunzip(f *os.File) (io.Reader, error) {
	gz, err := isGzip(f)
	if err != nil || !gz {
		return f, err
	}
	return gzip.NewReader(f)
}

// gunzipToTemp decompresses r into a new private file, at most
// DefaultLimits.MaxBytes.
func gunzipToTemp(r io.Reader, tempDir string) (*os.File, func() error, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(tempDir, "bulwark-archive-")
	if err != nil {
		return nil, nil, err
	}
	rm := func() error { return os.RemoveAll(dir) }
	out, err := os.OpenFile(filepath.Join(dir, "archive.tar"), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		rm()
		return nil, nil, err
	}
	n, err := io.Copy(out, io.LimitReader(zr, DefaultLimits.MaxBytes+1))
	if err == nil && n > DefaultLimits.MaxBytes {
		err = fmt.Errorf("%w: the archive decompresses to more than %d bytes", ErrLimit, DefaultLimits.MaxBytes)
	}
	if err == nil {
		_, err = out.Seek(0, io.SeekStart)
	}
	if err != nil {
		out.Close()
		rm()
		return nil, nil, truncated(err)
	}
	return out, rm, nil
}

func dockerArchive(f *os.File, file, tag string) (*Image, error) {
	ix, err := indexTar(f)
	if err != nil {
		return nil, err
	}
	raw, err := ix.readSmall("manifest.json")
	if err != nil {
		return nil, fmt.Errorf("%w (is this a `docker save` archive?)", err)
	}
	var ms []dockerManifest
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(ms) == 0 {
		return nil, errors.New("manifest.json lists no image")
	}
	m := ms[0]
	if tag != "" {
		found := false
		var all []string
		for _, c := range ms {
			all = append(all, c.RepoTags...)
			for _, t := range c.RepoTags {
				if t == tag || strings.HasSuffix(t, ":"+tag) {
					m, found = c, true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("no image tagged %q (the archive has: %s)", tag, strings.Join(all, ", "))
		}
	}
	img := &Image{Name: file, Tag: tag}
	if tag == "" && len(m.RepoTags) > 0 {
		img.Tag = m.RepoTags[0]
	}
	for _, lp := range m.Layers {
		r, err := ix.open(lp)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", lp, err)
		}
		img.Layers = append(img.Layers, &Layer{
			Size: r.Size(),
			open: func() (io.ReadCloser, error) {
				r, err := ix.open(lp)
				if err != nil {
					return nil, err
				}
				return io.NopCloser(r), nil
			},
		})
	}
	rawCfg, err := ix.readSmall(m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Config files are named by their digest in every docker save format.
	base := strings.TrimSuffix(path.Base(m.Config), ".json")
	if len(base) == 64 {
		if err := checkDigest("image configuration", rawCfg, "sha256:"+base); err != nil {
			return nil, err
		}
	}
	cfg, err := v1.ParseConfigFile(bytesReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config, err)
	}
	if err := img.fromConfig(rawCfg, cfg); err != nil {
		return nil, err
	}
	return img, nil
}

// openOCIArchive unpacks the regular files of an OCI layout tarball into a
// private temporary directory (layouts need random access to blobs).
func openOCIArchive(ctx context.Context, ref Ref, opts Options) (*Image, error) {
	f, err := os.Open(ref.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir, err := os.MkdirTemp(opts.TempDir, "bulwark-oci-")
	if err != nil {
		return nil, err
	}
	rm := func() error { return os.RemoveAll(dir) }
	if err := unpackLayout(ctx, f, dir); err != nil {
		rm()
		return nil, fmt.Errorf("OCI archive %s: %w", ref.Path, err)
	}
	img, err := openLayout(dir, ref, opts)
	if err != nil {
		rm()
		return nil, err
	}
	img.Name = ref.Path
	img.cleanup = append(img.cleanup, rm)
	return img, nil
}

// unpackLayout writes only regular files and directories, under names
// that stay inside dir; links and devices are refused.
func unpackLayout(ctx context.Context, r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := cleanEntryName(h.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		default:
			return fmt.Errorf("entry %q: %w: only files and directories belong in an OCI layout archive", h.Name, ErrHostile)
		}
	}
}
