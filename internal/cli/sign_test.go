package cli

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/server"
	"bulwark.dev/bulwark/internal/sign"
	"encoding/base64"
	"github.com/google/go-containerregistry/pkg/authn"
)

func pushRandom(t *testing.T, host, repo string) string {
	t.Helper()
	img, _ := random.Image(1024, 1)
	ref := host + "/" + repo
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func testRegistry(t *testing.T) string {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestKeySignVerifyCommands(t *testing.T) {
	host := testRegistry(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "team")
	envPW := map[string]string{"BULWARK_PASSWORD": "correct horse"}
	if code, _, errOut := run(t, envPW, "key", "generate", "--output-prefix", prefix); code != 0 {
		t.Fatalf("key generate: %s", errOut)
	}
	if code, _, errOut := run(t, envPW, "key", "generate", "--output-prefix", prefix); code != ExitError || !strings.Contains(errOut, "refusing to overwrite") {
		t.Errorf("second generate: %d %s", code, errOut)
	}
	ref := pushRandom(t, host, "shop/api:1.0")
	code, out, errOut := run(t, envPW, "sign", ref, "--key", prefix+".key", "-a", "pipeline=42")
	if code != 0 || out != "" || !strings.Contains(errOut, "@sha256:") {
		t.Fatalf("sign: %d stdout %q stderr %s", code, out, errOut)
	}
	if code, _, errOut := run(t, map[string]string{"BULWARK_PASSWORD": "wrong"}, "sign", ref, "--key", prefix+".key"); code != ExitError || !strings.Contains(errOut, "wrong password") {
		t.Errorf("wrong password: %d %s", code, errOut)
	}
	if code, out, errOut := run(t, nil, "verify", ref, "--key", prefix+".pub"); code != 0 || out != "" || !strings.Contains(errOut, "Verified") {
		t.Errorf("verify: %d %s %s", code, out, errOut)
	}
	unsigned := pushRandom(t, host, "shop/api:unsigned")
	if code, _, errOut := run(t, nil, "verify", unsigned, "--key", prefix+".pub"); code != ExitFindings || !strings.Contains(errOut, "no signature") {
		t.Errorf("unsigned: %d %s", code, errOut)
	}
	other := filepath.Join(dir, "other")
	run(t, envPW, "key", "generate", "--output-prefix", other)
	if code, _, errOut := run(t, nil, "verify", ref, "--key", other+".pub"); code != ExitFindings || !strings.Contains(errOut, "not signed by a trusted key") {
		t.Errorf("untrusted: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, nil, "sign", ref, "--key", prefix+".key"); code != ExitError || !strings.Contains(errOut, "BULWARK_PASSWORD") {
		t.Errorf("no password: %d %s", code, errOut)
	}

	// --policy: the rule for shop/* trusts team.pub; nothing covers misc/*.
	policy := filepath.Join(dir, "policy.yaml")
	rules := "rules:\n- pattern: " + host + "/shop/*\n  keys: [team.pub]\n"
	if err := os.WriteFile(policy, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, nil, "verify", ref, "--policy", policy); code != 0 || out != "" || !strings.Contains(errOut, "satisfies") {
		t.Errorf("verify --policy: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, nil, "verify", unsigned, "--policy", policy); code != ExitFindings || !strings.Contains(errOut, "no signature") {
		t.Errorf("verify --policy unsigned: %d %s", code, errOut)
	}
	// A tag that moved to an unsigned image after signing says so, with
	// --key and with --policy.
	moving := pushRandom(t, host, "shop/api:moving")
	run(t, envPW, "sign", moving, "--key", prefix+".key")
	pushRandom(t, host, "shop/api:moving")
	for _, how := range [][]string{{"--key", prefix + ".pub"}, {"--policy", policy}} {
		if code, _, errOut := run(t, nil, append([]string{"verify", moving}, how...)...); code != ExitFindings || !strings.Contains(errOut, "the tag moved since it was signed") {
			t.Errorf("verify %v of a moved tag: %d %s", how, code, errOut)
		}
	}
	uncovered := pushRandom(t, host, "misc/app:1")
	run(t, envPW, "sign", uncovered, "--key", prefix+".key")
	if code, _, errOut := run(t, nil, "verify", uncovered, "--policy", policy); code != ExitFindings || !strings.Contains(errOut, "no policy rule covers") {
		t.Errorf("verify --policy uncovered: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, nil, "verify", ref, "--policy", policy, "--key", prefix+".pub"); code != ExitError || !strings.Contains(errOut, "none of the others can be") {
		t.Errorf("--policy with --key: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, nil, "verify", ref); code != ExitError || !strings.Contains(errOut, "at least one of the flags") {
		t.Errorf("neither --policy nor --key: %d %s", code, errOut)
	}

	// Attestations under the same policy, with an age bound in the rule.
	prov := filepath.Join(dir, "prov.json")
	if err := os.WriteFile(prov, []byte(`{"metadata":{"buildFinishedOn":"2020-01-02T03:04:05Z"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, envPW, "attest", ref, "--key", prefix+".key", "--type", "slsaprovenance", "--predicate", prov); code != 0 {
		t.Fatalf("attest: %d %s", code, errOut)
	}
	if code, out, errOut := run(t, nil, "verify-attestation", ref, "--type", "slsaprovenance", "--policy", policy); code != 0 || !strings.Contains(errOut, "key 1 of the policy rule") || !strings.Contains(out, "buildFinishedOn") || !json.Valid([]byte(out)) {
		t.Errorf("verify-attestation --policy: %d %s %s", code, out, errOut)
	}
	aged := filepath.Join(dir, "aged.yaml")
	if err := os.WriteFile(aged, []byte(rules+"  maxAttestationAge: 720h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, nil, "verify-attestation", ref, "--type", "slsaprovenance", "--policy", aged); code != ExitFindings || !strings.Contains(errOut, "too old") {
		t.Errorf("verify-attestation with the rule's age: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, nil, "verify-attestation", ref, "--type", "slsaprovenance", "--policy", aged, "--max-age", "87600h"); code != 0 {
		t.Errorf("--max-age overriding the rule: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, nil, "verify-attestation", uncovered, "--type", "slsaprovenance", "--policy", policy); code != ExitFindings || !strings.Contains(errOut, "no policy rule covers") {
		t.Errorf("verify-attestation uncovered: %d %s", code, errOut)
	}
}

// cosignBinary finds the cosign of one major version: BULWARK_COSIGN
// (v2) or BULWARK_COSIGN3 (v3), which .ci/run sets.
func cosignBinary(t *testing.T, envVar string) string {
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: .ci/run installs cosign", envVar)
	}
	t.Skipf("cosign not installed (.ci/run installs it and sets %s)", envVar)
	return ""
}

// cosignOffline are the flags cosign verifies with here, offline, by key
// only: no transparency log, and an empty trusted root, which cosign
// v2.6 requires as soon as it sees a Sigstore bundle (otherwise it
// fetches one from the public TUF repository).
func cosignOffline(t *testing.T, dir string) []string {
	root := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(root, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--insecure-ignore-tlog=true", "--offline=true", "--trusted-root", root}
}

func cosign(t *testing.T, bin, dir, pw string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+pw, "COSIGN_EXPERIMENTAL=0", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCosignInterop: cosign v2 and v3 verify bulwark's signatures and
// attestations with the key bulwark generated, and bulwark verifies those
// cosign made with its own (encrypted) key, which bulwark can also import.
// cosign v2 stores them under .sig/.att tags, v3 as Sigstore bundle
// referrers; bulwark writes both by default.
func TestCosignInterop(t *testing.T) {
	for _, v := range []struct {
		name, env string
		// noTlog is how this cosign signs without a transparency log.
		noTlog []string
		store  string
	}{
		{"v2", "BULWARK_COSIGN", []string{"--tlog-upload=false"}, "tag"},
		{"v3", "BULWARK_COSIGN3", []string{"--signing-config", "sc.json"}, "bundle"},
	} {
		t.Run(v.name, func(t *testing.T) {
			cosignInterop(t, cosignBinary(t, v.env), v.noTlog, v.store)
		})
	}
}

func cosignInterop(t *testing.T, bin string, noTlog []string, store string) {
	host := testRegistry(t)
	dir := t.TempDir()
	if out, err := cosign(t, bin, dir, "", "signing-config", "create", "--out", "sc.json"); err != nil && noTlog[0] == "--signing-config" {
		t.Fatalf("cosign signing-config create: %v\n%s", err, out)
	}
	verifyFlags := append([]string{"--allow-http-registry"}, cosignOffline(t, dir)...)
	signFlags := append([]string{"--allow-http-registry", "--yes"}, noTlog...)

	// bulwark signs, cosign verifies: the default (auto: the tag, for a
	// fresh image), then the place this cosign writes.
	envPW := map[string]string{"BULWARK_PASSWORD": "pw-bulwark"}
	run(t, envPW, "key", "generate", "--output-prefix", filepath.Join(dir, "bw"))
	for _, flags := range [][]string{nil, {"--store", store}} {
		ref := pushRandom(t, host, "interop/a:1")
		if code, _, errOut := run(t, envPW, append([]string{"sign", ref, "--key", filepath.Join(dir, "bw.key")}, flags...)...); code != 0 {
			t.Fatalf("bulwark sign %v: %s", flags, errOut)
		}
		if out, err := cosign(t, bin, dir, "", append([]string{"verify", "--key", "bw.pub", ref}, verifyFlags...)...); err != nil {
			t.Errorf("cosign verify of bulwark's signature (%v): %v\n%s", flags, err, out)
		}
	}
	ref := pushRandom(t, host, "interop/a:1")
	run(t, envPW, "sign", ref, "--key", filepath.Join(dir, "bw.key"))

	// cosign signs with its own key, bulwark verifies.
	if out, err := cosign(t, bin, dir, "pw-cosign", "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	ref2 := pushRandom(t, host, "interop/b:1")
	if out, err := cosign(t, bin, dir, "pw-cosign", append([]string{"sign", "--key", "cosign.key", ref2}, signFlags...)...); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	if code, out, errOut := run(t, nil, "verify", ref2, "--key", filepath.Join(dir, "cosign.pub")); code != 0 {
		t.Errorf("bulwark verify of cosign's signature: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, nil, "verify", ref2, "--key", filepath.Join(dir, "bw.pub")); code != ExitFindings || !strings.Contains(errOut, "not signed by a trusted key") {
		t.Errorf("bulwark verify of cosign's signature with another key: %d %s", code, errOut)
	}
	// bulwark adds its signature where cosign's is (--store auto): this
	// cosign still sees both signers.
	if code, _, errOut := run(t, envPW, "sign", ref2, "--key", filepath.Join(dir, "bw.key")); code != 0 {
		t.Fatalf("bulwark sign beside cosign: %s", errOut)
	}
	for _, pub := range []string{"cosign.pub", "bw.pub"} {
		if out, err := cosign(t, bin, dir, "", append([]string{"verify", "--key", pub, ref2}, verifyFlags...)...); err != nil {
			t.Errorf("cosign verify with %s after bulwark signed beside cosign: %v\n%s", pub, err, out)
		}
	}
	// bulwark signs with cosign's key directly (COSIGN_PASSWORD works).
	ref3 := pushRandom(t, host, "interop/c:1")
	if code, _, errOut := run(t, map[string]string{"COSIGN_PASSWORD": "pw-cosign"}, "sign", ref3, "--key", filepath.Join(dir, "cosign.key")); code != 0 {
		t.Fatalf("bulwark sign with cosign's key: %s", errOut)
	}
	if out, err := cosign(t, bin, dir, "", append([]string{"verify", "--key", "cosign.pub", ref3}, verifyFlags...)...); err != nil {
		t.Errorf("cosign verify: %v\n%s", err, out)
	}
	// Attestations both ways: bulwark attests, cosign verifies; cosign
	// attests, bulwark verifies.
	sbomFile := filepath.Join(dir, "sbom.json")
	os.WriteFile(sbomFile, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"metadata":{"timestamp":"2026-11-28T00:00:00Z"},"components":[]}`), 0o644)
	if code, _, errOut := run(t, envPW, "attest", ref, "--predicate", sbomFile, "--type", "cyclonedx", "--key", filepath.Join(dir, "bw.key")); code != 0 {
		t.Fatalf("bulwark attest: %s", errOut)
	}
	if out, err := cosign(t, bin, dir, "", append([]string{"verify-attestation", "--key", "bw.pub", "--type", "cyclonedx", ref}, verifyFlags...)...); err != nil {
		t.Errorf("cosign verify-attestation of bulwark's attestation: %v\n%s", err, out)
	}
	if out, err := cosign(t, bin, dir, "pw-cosign", append([]string{"attest", "--key", "cosign.key", "--type", "cyclonedx", "--predicate", "sbom.json", ref2}, signFlags...)...); err != nil {
		t.Fatalf("cosign attest: %v\n%s", err, out)
	}
	if code, out, errOut := run(t, nil, "verify-attestation", ref2, "--type", "cyclonedx", "--key", filepath.Join(dir, "cosign.pub")); code != 0 || !strings.Contains(out, "https://cyclonedx.org/bom") {
		t.Errorf("bulwark verify-attestation of cosign's attestation: %d %s %s", code, out, errOut)
	}
	// --max-age reads each predicate type's own time: CycloneDX
	// metadata.timestamp (three days old here), the vuln predicate's
	// scanFinishedOn, SPDX creationInfo.created.
	now := time.Now().UTC().Format(time.RFC3339)
	os.WriteFile(filepath.Join(dir, "vuln.json"), []byte(`{"scanner":{"uri":"https://github.com/aquasecurity/trivy","version":"0.58.0","result":{}},"metadata":{"scanStartedOn":"`+now+`","scanFinishedOn":"`+now+`"}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "spdx.json"), []byte(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x","documentNamespace":"https://example.com/x","creationInfo":{"created":"`+now+`","creators":["Tool: test"]},"packages":[]}`), 0o644)
	for typ, file := range map[string]string{"vuln": "vuln.json", "spdxjson": "spdx.json"} {
		if out, err := cosign(t, bin, dir, "pw-cosign", append([]string{"attest", "--key", "cosign.key", "--type", typ, "--predicate", file, ref2}, signFlags...)...); err != nil {
			t.Fatalf("cosign attest --type %s: %v\n%s", typ, err, out)
		}
	}
	for _, tc := range []struct {
		typ, maxAge string
		want        int
	}{{"vuln", "1h", 0}, {"spdx", "1h", 0}, {"cyclonedx", "24h", ExitFindings}, {"cyclonedx", "8760h", 0}} {
		if code, _, errOut := run(t, nil, "verify-attestation", ref2, "--type", tc.typ, "--max-age", tc.maxAge, "--key", filepath.Join(dir, "cosign.pub")); code != tc.want {
			t.Errorf("verify-attestation --type %s --max-age %s of cosign's attestation: exit %d, want %d: %s", tc.typ, tc.maxAge, code, tc.want, errOut)
		}
	}
	if code, _, errOut := run(t, nil, "verify-attestation", ref2, "--type", "slsaprovenance", "--key", filepath.Join(dir, "cosign.pub")); code != ExitFindings {
		t.Errorf("missing attestation type: %d %s", code, errOut)
	}

	// Importing cosign's key re-encrypts it for bulwark.
	imp := filepath.Join(dir, "imported")
	if code, _, errOut := run(t, map[string]string{"COSIGN_PASSWORD": "pw-cosign", "BULWARK_PASSWORD": "pw-new"}, "key", "import", filepath.Join(dir, "cosign.key"), "--output-prefix", imp); code != 0 {
		t.Fatalf("key import: %s", errOut)
	}
	pub1, _ := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	pub2, _ := os.ReadFile(imp + ".pub")
	if string(pub1) != string(pub2) {
		t.Error("the imported key's public half differs")
	}
}

// TestStoreAuto: --store auto writes a tag signature for a fresh image and
// a bundle for one that already has bundles (where cosign looks).
func TestStoreAuto(t *testing.T) {
	host := testRegistry(t)
	dir := t.TempDir()
	env := map[string]string{"BULWARK_PASSWORD": "pw"}
	run(t, env, "key", "generate", "--output-prefix", filepath.Join(dir, "k"))
	count := func(ref string) (tags, bundles int) {
		r, _ := name.ParseReference(ref)
		d, err := sign.Resolve(r)
		if err != nil {
			t.Fatal(err)
		}
		if has, err := sign.HasBundles(context.Background(), d); err != nil {
			t.Fatal(err)
		} else if has {
			bundles = 1
		}
		ts, _ := remote.List(r.Context())
		for _, tg := range ts {
			if strings.HasSuffix(tg, ".sig") {
				tags++
			}
		}
		return tags, bundles
	}
	fresh := pushRandom(t, host, "auto/fresh:1")
	run(t, env, "sign", fresh, "--key", filepath.Join(dir, "k.key"))
	if tg, b := count(fresh); tg != 1 || b != 0 {
		t.Errorf("fresh image: %d .sig tags, bundles %d; want the tag only", tg, b)
	}
	bundled := pushRandom(t, host, "auto/bundled:1")
	run(t, env, "sign", bundled, "--key", filepath.Join(dir, "k.key"), "--store", "bundle")
	run(t, env, "sign", bundled, "--key", filepath.Join(dir, "k.key"))
	if tg, b := count(bundled); tg != 0 || b != 1 {
		t.Errorf("bundled image: %d .sig tags, bundles %d; want bundles only", tg, b)
	}
	if code, _, errOut := run(t, env, "sign", fresh, "--key", filepath.Join(dir, "k.key"), "--store", "all"); code != ExitError || !strings.Contains(errOut, "want auto, tag, bundle or both") {
		t.Errorf("bad --store: %d %s", code, errOut)
	}
}

// TestVerifyShowsTheGatesReason: verify of an image bulwark's pull gate
// refuses (unscanned: no database) prints the registry's DENIED message,
// not HEAD's bodiless 403.
func TestVerifyShowsTheGatesReason(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Config{DataDir: dir, AdminPassword: "verify-admin-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	host := strings.TrimPrefix(hs.URL, "http://")
	ref, _ := name.ParseReference(host + "/shop/app:1")
	img, _ := random.Image(256, 1)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: "verify-admin-pw"})); err != nil {
		t.Fatal(err)
	}
	// A guest of the project (may pull, not push) logged in with docker.
	for _, c := range [][3]string{
		{"POST", "/api/v1/users", `{"name":"gus","password":"guest-password-1"}`},
		{"PUT", "/api/v1/projects/shop/members/gus", `{"role":"guest"}`},
	} {
		req, _ := http.NewRequest(c[0], hs.URL+c[1], strings.NewReader(c[2]))
		req.SetBasicAuth("admin", "verify-admin-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %v %v", c[0], c[1], err, resp)
		}
		resp.Body.Close()
	}
	cfg := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("gus:guest-password-1"))
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600)
	t.Setenv("DOCKER_CONFIG", cfg)
	pub := filepath.Join(dir, "k")
	run(t, map[string]string{"BULWARK_PASSWORD": "pw"}, "key", "generate", "--output-prefix", pub)
	code, _, errOut := run(t, nil, "verify", ref.String(), "--key", pub+".pub")
	if code == 0 || !strings.Contains(errOut, "has not been scanned yet") || strings.Contains(errOut, "HEAD responses have no body") {
		t.Errorf("verify of a refused image: exit %d: %s", code, errOut)
	}
}
