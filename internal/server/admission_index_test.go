package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestAdmissionOfAnIndex: a pod naming a multi-platform image (an index)
// is judged by the gate's verdict on each of its images, and admitted
// when every one passes (the index's children were once never read, and
// every index was refused as unreadable).
func TestAdmissionOfAnIndex(t *testing.T) {
	ts := start(t, filepath.Join(t.TempDir(), "b.db"))
	ts.cfg.RegistryHosts = []string{ts.host}
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(ts.host + "/shop/multi:v1")
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})); err != nil {
		t.Fatal(err)
	}
	j, err := admissionImages{s: ts.Server}.Judge(context.Background(), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if !j.Decision.Allowed || j.Digest != d.String() {
		t.Errorf("index %s: allowed %v (%+v), digest %s; want allowed, %s", ref, j.Decision.Allowed, j.Decision.Reasons, j.Digest, d)
	}
}
