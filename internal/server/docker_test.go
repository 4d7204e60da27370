package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerCLI: the machine's docker logs in (token auth), pushes an
// image built in the test and pulls it back; with a policy that blocks
// unscanned images, docker's pull fails with the DENIED message.
func TestDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker is not installed: the CI machine has a Docker Engine")
		}
		t.Skip("no docker CLI")
	}
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "bulwark.db"), AdminPassword: adminPW,
		DefaultPolicy: `{"blockSeverity":"none","unscanned":"allow"}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts := serveHTTP(t, s)
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "hello.txt"), []byte("hello from bulwark's test\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /hello.txt\n"), 0o644)
	image := ts.host + "/shop/hello:1"
	docker := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command("docker", append([]string{"--config", filepath.Join(dir, "cfg")}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { docker("", "rmi", "-f", image) })
	if out, err := docker("", "build", "-q", "-t", image, ctxDir); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	if out, err := docker("wrong password", "login", "-u", "admin", "--password-stdin", ts.host); err == nil {
		t.Errorf("docker login with a wrong password succeeded: %s", out)
	}
	if out, err := docker(adminPW, "login", "-u", "admin", "--password-stdin", ts.host); err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	if out, err := docker("", "push", image); err != nil {
		t.Fatalf("docker push: %v\n%s", err, out)
	}
	docker("", "rmi", image)
	if out, err := docker("", "pull", image); err != nil {
		t.Fatalf("docker pull: %v\n%s", err, out)
	}
	// Now the project blocks unscanned images (no database: never scanned).
	if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", `{"unscanned":"block"}`); code != 200 {
		t.Fatalf("policy: %d %v", code, body)
	}
	if code, body := ts.call(t, "admin", adminPW, "GET", "/api/v1/projects/shop/policy", ``); code != 200 || body["unscanned"] != "block" {
		t.Fatalf("policy: %d %v", code, body)
	}
	// A pull-only consumer (a deployment machine): its docker, which has
	// pulled the image before, is refused too, though it only asks HEAD.
	if code, body := ts.call(t, "admin", adminPW, "POST", "/api/v1/users", `{"name":"deployer","password":"deployer-password"}`); code != 201 {
		t.Fatalf("user: %d %v", code, body)
	}
	if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/shop/members/deployer", `{"role":"guest"}`); code != 200 {
		t.Fatalf("member: %d %v", code, body)
	}
	if out, err := docker("deployer-password", "login", "-u", "deployer", "--password-stdin", ts.host); err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	docker("", "rmi", image)
	out, err := docker("", "pull", image)
	if err == nil || !strings.Contains(out, "denied") || !strings.Contains(out, "not been scanned") {
		t.Errorf("docker pull of a blocked image: %v\n%s", err, out)
	}
}
