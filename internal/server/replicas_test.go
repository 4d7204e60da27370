package server

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestReplicas: two servers share one PostgreSQL database and one blob
// directory. What one accepts the other serves; the scan runs once; both
// append to one audit chain, which verifies with both replicas' keys.
func TestReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	blobs := t.TempDir()
	vdb := goVulnDB(t)
	var servers []*testServer
	for i := 0; i < 2; i++ {
		// One data directory (blobs and the audit key) for both.
		s, err := New(context.Background(), Config{DataDir: blobs, Database: dsn, AdminPassword: adminPW, VulnDB: vdb,
			DefaultPolicy: `{"blockSeverity":"none","unscanned":"block"}`})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.jobs.Poll = 50 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		s.Start(ctx)
		servers = append(servers, serveHTTP(t, s))
	}
	pub, err := audit.LoadPublicKey(filepath.Join(blobs, "audit.key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	keys := []ed25519.PublicKey{pub}
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
	img := testenv.VulnerableGoImage(t)
	refA, _ := name.ParseReference(servers[0].host + "/shop/app:1")
	if err := remote.Write(refA, img, admin); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	waitScanned(t, servers[1].store, d.String())
	refB, _ := name.ParseReference(servers[1].host + "/shop/app:1")
	if _, err := remote.Image(refB, admin); err != nil {
		t.Fatalf("pull from the other replica: %v", err)
	}
	// The admin password, the token secret and the scan are shared: a
	// token from replica A works on replica B.
	req, _ := http.NewRequest("GET", servers[0].url+"/auth/token?scope=repository:shop/app:pull", nil)
	req.SetBasicAuth("admin", adminPW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := strings.Split(strings.Split(string(body), `"token":"`)[1], `"`)[0]
	req, _ = http.NewRequest("GET", servers[1].url+"/v2/shop/app/manifests/1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("replica A's token on replica B: %v %v", resp.Status, err)
	}
	var runs int
	servers[0].store.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		if r.Action == "scan.result" {
			runs++
		}
		return nil
	})
	if runs != 1 {
		t.Errorf("the image was scanned %d times, want once", runs)
	}
	for _, s := range servers {
		s.Close()
	}
	st := storetest.Open(t, dsn)
	rep, err := audit.Verify(context.Background(), st, keys)
	if err != nil || !rep.OK() {
		t.Errorf("audit chain of two replicas: %+v %v", rep, err)
	}
}
