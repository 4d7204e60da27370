package cli

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/testenv"
)

func checkImageJSON(t *testing.T, ref string) map[string]checkRow {
	t.Helper()
	code, out, errOut := run(t, nil, "check", "image", "--no-cache", "--format", "json", ref)
	if code != 0 {
		t.Fatalf("check image %s: exit %d: %s", ref, code, errOut)
	}
	var rep report.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	rows := map[string]checkRow{}
	for _, r := range rep.Results {
		rows[r.CheckID] = checkRow{r.Status, r.Message}
	}
	return rows
}

type checkRow struct{ status, message string }

// TestCheckImageDebian checks the Debian image: it runs as root, is not
// minimal, and its setuid/setgid files are exactly those find(1) lists in
// the same root filesystem.
func TestCheckImageDebian(t *testing.T) {
	dir := testenv.DebianImage(t)
	rows := checkImageJSON(t, "docker-archive:"+filepath.Join(dir, "image.docker.tar"))
	for id, want := range map[string]string{"BW-IMG-001": "fail", "BW-IMG-002": "pass", "BW-IMG-003": "fail", "BW-IMG-006": "fail", "BW-IMG-007": "pass"} {
		if rows[id].status != want {
			t.Errorf("%s: %q, want %q (%s)", id, rows[id].status, want, rows[id].message)
		}
	}
	out, err := exec.Command("find", filepath.Join(dir, "rootfs"), "-type", "f", "-perm", "/6000").Output()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range strings.Fields(string(out)) {
		files = append(files, strings.TrimPrefix(f, filepath.Join(dir, "rootfs")))
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("find reports no setuid file")
	}
	msg := rows["BW-IMG-003"].message
	for _, f := range firstFew(files, 10) {
		if !strings.Contains(msg, f) {
			t.Errorf("setuid file %s missing from %q", f, msg)
		}
	}
	if !strings.HasPrefix(msg, fmt.Sprintf("%d setuid", len(files))) {
		t.Errorf("count: find %d, message %q", len(files), msg)
	}
}

func firstFew(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestCheckImageDerived builds an image with a secret in ENV, an
// exposed SSH port, a non-root user and an apk cache left behind.
func TestCheckImageDerived(t *testing.T) {
	img := testenv.OneLayerImage(t, testenv.TarFile{Name: "var/cache/apk/APKINDEX.tar.gz", Mode: 0o644, Body: "index"},
		testenv.TarFile{Name: "etc/os-release", Mode: 0o644, Body: "ID=alpine\nVERSION_ID=3.10.3\n"})
	var err error
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.User = "1000"
	cf.Config.Env = []string{"PATH=/bin", "API_TOKEN=s3cr3t"}
	cf.Config.ExposedPorts = map[string]struct{}{"22/tcp": {}, "8080/tcp": {}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	rows := checkImageJSON(t, testenv.OCILayout(t, img))
	for id, want := range map[string]string{"BW-IMG-001": "pass", "BW-IMG-002": "fail", "BW-IMG-004": "fail", "BW-IMG-006": "pass", "BW-IMG-007": "fail"} {
		if rows[id].status != want {
			t.Errorf("%s: %q, want %q (%s)", id, rows[id].status, want, rows[id].message)
		}
	}
	if !strings.Contains(rows["BW-IMG-002"].message, "API_TOKEN") || strings.Contains(rows["BW-IMG-002"].message, "s3cr3t") {
		t.Errorf("the secret's name, not its value, belongs in the message: %q", rows["BW-IMG-002"].message)
	}
}
