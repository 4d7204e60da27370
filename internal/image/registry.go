package image

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NameOptions returns the name parsing options for a registry reference:
// plain HTTP only with --insecure (go-containerregistry already allows it
// for loopback hosts).
func NameOptions(insecure bool) []name.Option {
	opts := []name.Option{name.WeakValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// RemoteOptions returns the registry client options every command uses.
func RemoteOptions(ctx context.Context, opts Options) []remote.Option {
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ro := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithUserAgent("bulwark")}
	if opts.Insecure {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // named --insecure
		ro = append(ro, remote.WithTransport(tr))
	}
	return ro
}

func openRegistry(ctx context.Context, ref Ref, opts Options) (*Image, error) {
	r, err := name.ParseReference(ref.Name, NameOptions(opts.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRef, err)
	}
	plat, err := opts.platform()
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, RemoteOptions(ctx, opts)...)
	if err != nil {
		return nil, err
	}
	var v1img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		d, err := choosePlatform(im, plat)
		if err != nil {
			return nil, err
		}
		v1img, err = idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
	} else {
		v1img, err = desc.Image()
		if err != nil {
			return nil, err
		}
	}
	img, err := fromV1(v1img)
	if err != nil {
		return nil, err
	}
	img.Name = r.Context().Name()
	if t, ok := r.(name.Tag); ok {
		img.Tag = t.TagStr()
	}
	return img, nil
}

// choosePlatform picks the manifest of an index that satisfies plat, or
// says which platforms the index has.
func choosePlatform(im *v1.IndexManifest, plat *v1.Platform) (*v1.Descriptor, error) {
	var have []string
	for i := range im.Manifests {
		d := &im.Manifests[i]
		if d.Platform == nil {
			continue
		}
		if d.Platform.Satisfies(*plat) {
			return d, nil
		}
		if d.Platform.OS != "unknown" {
			have = append(have, d.Platform.String())
		}
	}
	sort.Strings(have)
	return nil, fmt.Errorf("no image for platform %s in this index; it has: %s (choose one with --platform)", plat, strings.Join(have, ", "))
}

// fromV1 adapts a go-containerregistry image whose layers' Compressed()
// returns the blob as stored (remote and OCI layout images).
func fromV1(v1img v1.Image) (*Image, error) {
	rawManifest, err := v1img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytesReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if !isImageManifest(m.MediaType) {
		return nil, fmt.Errorf("unsupported manifest media type %q", m.MediaType)
	}
	img := &Image{Digest: digestOf(rawManifest)}
	layers, err := v1img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	for i, l := range layers {
		d := m.Layers[i]
		if !isLayerMediaType(d.MediaType) {
			return nil, fmt.Errorf("layer %d: unsupported media type %q", i, d.MediaType)
		}
		img.Layers = append(img.Layers, &Layer{
			Digest:    d.Digest.String(),
			MediaType: string(d.MediaType),
			Size:      d.Size,
			open:      l.Compressed,
		})
	}
	rawCfg, err := v1img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := checkDigest("image configuration", rawCfg, m.Config.Digest.String()); err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytesReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if err := img.fromConfig(rawCfg, cfg); err != nil {
		return nil, err
	}
	return img, nil
}

func isImageManifest(mt types.MediaType) bool {
	return mt == "" || mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

func isLayerMediaType(mt types.MediaType) bool {
	switch mt {
	case types.DockerLayer, types.DockerUncompressedLayer, types.DockerForeignLayer,
		types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer,
		types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer,
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return true
	}
	return false
}

// openLayout opens an image from an OCI image layout, selecting by the
// org.opencontainers.image.ref.name annotation when a tag is given, and by
// platform through nested indexes.
func openLayout(dir string, ref Ref, opts Options) (*Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	plat, err := opts.platform()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: index.json: %w", dir, err)
	}
	var cands []v1.Descriptor
	var tags []string
	for _, d := range im.Manifests {
		t := d.Annotations["org.opencontainers.image.ref.name"]
		if t != "" {
			tags = append(tags, t)
		}
		if ref.Tag == "" || t == ref.Tag || strings.HasSuffix(t, ":"+ref.Tag) {
			cands = append(cands, d)
		}
	}
	switch {
	case len(cands) == 0 && ref.Tag != "":
		return nil, fmt.Errorf("OCI layout %s has no image tagged %q (it has: %s)", dir, ref.Tag, strings.Join(tags, ", "))
	case len(cands) == 0:
		return nil, fmt.Errorf("OCI layout %s holds no image", dir)
	}
	d, err := pickDescriptor(cands, plat)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	// Nested indexes: descend by platform.
	for depth := 0; d.MediaType.IsIndex(); depth++ {
		if depth > 4 {
			return nil, fmt.Errorf("OCI layout %s: indexes nested too deep", dir)
		}
		raw, err := p.Bytes(d.Digest)
		if err != nil {
			return nil, err
		}
		if err := checkDigest("index "+d.Digest.String(), raw, d.Digest.String()); err != nil {
			return nil, err
		}
		sub, err := v1.ParseIndexManifest(bytesReader(raw))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		if d, err = choosePlatform(sub, plat); err != nil {
			return nil, err
		}
	}
	raw, err := p.Bytes(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if err := checkDigest("manifest", raw, d.Digest.String()); err != nil {
		return nil, err
	}
	v1img, err := p.Image(d.Digest)
	if err != nil {
		return nil, err
	}
	img, err := fromV1(v1img)
	if err != nil {
		return nil, err
	}
	img.Name = dir
	img.Tag = ref.Tag
	return img, nil
}

func pickDescriptor(cands []v1.Descriptor, plat *v1.Platform) (*v1.Descriptor, error) {
	if len(cands) == 1 {
		return &cands[0], nil
	}
	return choosePlatform(&v1.IndexManifest{Manifests: cands}, plat)
}

// FromV1 opens an image given as a go-containerregistry image, such as
// one bulwark's registry stores; name is its repository.
func FromV1(v1img v1.Image, name string) (*Image, error) {
	img, err := fromV1(v1img)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	img.Name = name
	img.Ref = Ref{Kind: KindRegistry, Raw: name + "@" + img.Digest, Name: name + "@" + img.Digest}
	return img, nil
}
