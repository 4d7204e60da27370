package dockerbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/testenv"
)

// verdictLine is a check's line in either tool's log.
var verdictLine = regexp.MustCompile(`(?m)^\[(PASS|WARN|INFO|NOTE)\] ([0-9C][0-9.]*) - (.*)$`)

type verdict struct {
	status Status
	line   string
}

func parseLog(t *testing.T, who string, b []byte) (map[string]verdict, string) {
	t.Helper()
	out := map[string]verdict{}
	for _, m := range verdictLine.FindAllSubmatch(b, -1) {
		out[string(m[2])] = verdict{Status(m[1]), string(m[2]) + " - " + string(m[3])}
	}
	checks := regexp.MustCompile(`(?m)^\[INFO\] Checks: (\d+)$`).FindSubmatch(b)
	if len(out) < 20 || checks == nil {
		t.Fatalf("%s wrote no report:\n%s", who, b)
	}
	return out, string(checks[1])
}

// difference is a check on which the two tools disagree, and why.
type difference struct{ bench, bulwark Status }

// TestAgainstDockerBenchSecurity runs docker-bench-security (the commit
// the catalogue comes from) and bulwark on this machine, on the same
// containers and images, and compares every check's line (ID and
// wording) and verdict. The only differences allowed are the ones
// docs/cis-docker.md explains, and each must actually occur, so the list
// stays exact.
func TestAgainstDockerBenchSecurity(t *testing.T) {
	testenv.NeedDocker(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the CIS Docker Benchmark reads root-only files: CI runs as root")
		}
		t.Skip("needs root, as docker-bench-security does")
	}
	peer := filepath.Join(testenv.Corpus(t), "..", "peers", "docker-bench-security")
	if _, err := os.Stat(filepath.Join(peer, "docker-bench-security.sh")); err != nil {
		t.Fatalf("docker-bench-security is not beside the corpus (%v)", err)
	}
	prefix := fmt.Sprintf("bwcis%d-", time.Now().UnixNano()%1e9)
	images := buildBenchImages(t, prefix)
	run := func(args ...string) {
		t.Helper()
		testenv.Docker(t, append([]string{"run", "-d"}, args...)...)
	}
	t.Cleanup(func() {
		ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "name="+prefix).Output()
		if f := strings.Fields(string(ids)); len(f) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, f...)...).Run()
		}
		exec.Command("docker", "rmi", "-f", images.plain, images.health).Run()
	})
	run("--name", prefix+"plain", images.plain, "/prog")
	run("--name", prefix+"hard", "--user", "1000:1000", "--read-only", "--memory", "64m", "--cpus", "0.5",
		"--pids-limit", "50", "--security-opt", "no-new-privileges", "--cap-drop", "ALL", "--restart", "on-failure:3",
		"--ulimit", "nofile=1024:1024", "--network", "none", images.health)
	// Not --privileged: this machine's engine cannot grant every capability.
	run("--name", prefix+"loose", "--pid", "host", "--ipc", "host", "--uts", "host",
		"-v", "/etc:/host/etc", "-v", "/var/run/docker.sock:/var/run/docker.sock", "--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN",
		"-p", "127.0.0.1:1000:8080", "-p", "0.0.0.0::8081", "--security-opt", "seccomp=unconfined",
		"--device", "/dev/null:/dev/xnull", "--restart", "on-failure:9", images.plain, "/prog")
	// uid 0 spelled 0:0, and a process named sshd in an image without ps.
	run("--name", prefix+"sshd", "--user", "0:0", "--network", "host", "--entrypoint", "/sshd", images.health)

	for _, tc := range []struct {
		name    string
		include string
		want    map[string]difference
	}{
		{"every test container", "^" + prefix, map[string]difference{
			// docker-bench greps `docker history` with CREATED BY cut
			// at 45 characters; the LABEL holding "update" is cut off.
			"4.7": {Pass, Info},
			// docker-bench runs ps inside the container, and this image
			// has no ps: the sshd process is not seen.
			"5.7": {Pass, Warn},
		}},
		{"the sshd container alone", "^" + prefix + "sshd$", map[string]difference{
			// User 0:0 is root; docker-bench only knows "", "0", "root".
			"4.1": {Pass, Warn},
			"5.7": {Pass, Warn},
			// docker-bench lists every container on docker0, ignoring -i;
			// the plain test container is on docker0.
			"5.30": {Info, Pass},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "bench.log")
			cmd := exec.Command("sh", "docker-bench-security.sh", "-b", "-l", logFile, "-i", tc.include)
			cmd.Dir = peer
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("docker-bench-security: %v\n%s", err, out)
			}
			benchTime := time.Since(start)
			benchLog, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}

			start = time.Now()
			dc, err := image.NewDockerClient("")
			if err != nil {
				t.Fatal(err)
			}
			h, err := Gather(context.Background(), dc, GatherOptions{Root: "/", Getenv: os.Getenv, AuditRules: AuditctlRules})
			if err != nil {
				t.Fatal(err)
			}
			cat, _ := LoadCatalog()
			rep, err := Run(cat, h, Options{Include: []string{tc.include}, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			var ours bytes.Buffer
			if err := WriteText(&ours, rep, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Logf("docker-bench-security %v, bulwark %v", benchTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

			bench, benchChecks := parseLog(t, "docker-bench-security", benchLog)
			got, gotChecks := parseLog(t, "bulwark", ours.Bytes())
			if benchChecks != gotChecks {
				t.Errorf("checks counted: docker-bench-security %s, bulwark %s", benchChecks, gotChecks)
			}
			found := map[string]difference{}
			for id, b := range bench {
				o, ok := got[id]
				if !ok {
					t.Errorf("%s: docker-bench-security printed %q, bulwark nothing", id, b.line)
					continue
				}
				if o.line != b.line {
					t.Errorf("%s: wording differs:\n docker-bench-security: %s\n bulwark:               %s", id, b.line, o.line)
				}
				if o.status != b.status {
					found[id] = difference{b.status, o.status}
				}
			}
			for id, o := range got {
				if _, ok := bench[id]; !ok {
					t.Errorf("%s: bulwark printed %q, docker-bench-security nothing", id, o.line)
				}
			}
			if d := cmp.Diff(tc.want, found, cmp.AllowUnexported(difference{})); d != "" {
				t.Errorf("verdict differences (-explained +found):\n%s\ndocker-bench-security:\n%s\nbulwark:\n%s", d, benchLog, ours.String())
			}
		})
	}
}

type benchImages struct{ plain, health string }

// buildBenchImages builds two images from a static program: one by
// docker import (no health check, no history), one by docker build with
// ADD, a LABEL mentioning "update" and a HEALTHCHECK.
func buildBenchImages(t *testing.T, prefix string) benchImages {
	t.Helper()
	prog := testenv.StaticProgram(t, `package main

import (
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "health" {
		return
	}
	time.Sleep(time.Hour)
}
`)
	dir := t.TempDir()
	b, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"prog", "sshd"} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "note.txt"), []byte("a file ADDed\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(`FROM scratch
COPY prog /prog
COPY sshd /sshd
ADD note.txt /note.txt
LABEL org.bulwark.test=update
HEALTHCHECK --interval=5s CMD ["/prog", "health"]
CMD ["/prog"]
`), 0o644)
	imgs := benchImages{plain: prefix + "plain:1", health: prefix + "health:1"}
	cmd := exec.Command("docker", "build", "-q", "-t", imgs.health, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	tarFile := filepath.Join(t.TempDir(), "rootfs.tar")
	tar := exec.Command("tar", "-C", dir, "-cf", tarFile, "prog")
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	testenv.Docker(t, "import", tarFile, imgs.plain)
	return imgs
}
