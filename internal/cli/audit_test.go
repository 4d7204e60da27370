package cli

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/server"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestAuditVerifyCommand: a server's pushes and pulls land in the audit
// trail, `audit verify` finds it intact, and finds an edit made directly
// in the database.
func TestAuditVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Config{DataDir: dir, AdminPassword: "audit-admin-pw"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	ref, _ := name.ParseReference(strings.TrimPrefix(hs.URL, "http://") + "/shop/app:1")
	img, _ := random.Image(256, 1)
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: "audit-admin-pw"})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: "admin", Password: "wrong password"})); err == nil {
		t.Fatal("a wrong password pulled")
	}
	hs.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, filepath.Join(dir, "bulwark.db"))
	actions := map[string]int{}
	st.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		actions[r.Action+" "+r.Outcome+" "+r.Actor]++
		return nil
	})
	for _, want := range []string{"server.start success system", "user.create success system", "registry.push success admin", "auth.login failure admin", "auth.login success admin"} {
		if actions[want] == 0 {
			t.Errorf("no %q in the audit trail: %v", want, actions)
		}
	}
	code, out, errOut := run(t, nil, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "audit", "verify", "--data", dir, "--format", "json")
	for _, want := range []string{`"problems":null`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("json: %d %s", code, out)
		}
	}
	// Someone hides the failed login.
	storetest.Exec(t, filepath.Join(dir, "bulwark.db"), `UPDATE audit SET outcome = 'success' WHERE action = 'auth.login'`)
	code, out, errOut = run(t, nil, "audit", "verify", "--data", dir)
	if code != ExitFindings || !strings.Contains(out, "edited") || !strings.Contains(errOut, "tampered") {
		t.Errorf("after tampering: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, nil, "audit", "verify", "--data", t.TempDir()); code != ExitError || !strings.Contains(errOut, "audit.key.pub") {
		t.Errorf("no key: %d %s", code, errOut)
	}
}
