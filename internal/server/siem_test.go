package server

import (
	"bufio"
	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/registry"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// rsyslog runs a real rsyslogd on 127.0.0.1:port writing every message
// it receives, raw, to out (TLS with cert/key when given).
type rsyslog struct {
	cmd  *exec.Cmd
	out  string
	port string
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

func startRsyslog(t *testing.T, dir, port string, tlsFiles *TLSFiles) *rsyslog {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rsyslogd is not installed: scripts/deps.sh installs it")
		}
		t.Skip("rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)")
	}
	r := &rsyslog{out: filepath.Join(dir, "received.log"), port: port}
	global := fmt.Sprintf(`global(workDirectory=%q`, dir)
	input := `module(load="imtcp")`
	if tlsFiles != nil {
		global += fmt.Sprintf(` defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q`, tlsFiles.CA, tlsFiles.Cert, tlsFiles.Key)
		input = `module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`
	}
	conf := fmt.Sprintf(`%s)
%s
input(type="imtcp" address="127.0.0.1" port="%s")
template(name="raw" type="string" string="%%rawmsg%%\n")
*.* action(type="omfile" file=%q template="raw")
`, global, input, port, r.out)
	cf := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(cf, []byte(conf), 0o644)
	r.cmd = exec.Command(bin, "-n", "-f", cf, "-i", filepath.Join(dir, "rsyslog.pid"))
	logf, _ := os.Create(filepath.Join(dir, "rsyslogd.log"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "rsyslogd.log"))
	t.Fatalf("rsyslogd did not listen:\n%s", b)
	return nil
}

func (r *rsyslog) stop() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

var seqRE = regexp.MustCompile(`seq="(\d+)"|cn1=(\d+)`)

// received returns the audit sequence numbers rsyslog wrote, with the
// lines.
func (r *rsyslog) received() (map[string]int, []string) {
	f, err := os.Open(r.out)
	if err != nil {
		return map[string]int{}, nil
	}
	defer f.Close()
	seqs := map[string]int{}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if m := seqRE.FindStringSubmatch(sc.Text()); m != nil {
			seqs[m[1]+m[2]]++
		}
	}
	return seqs, lines
}

// TestSIEMExportToRsyslog: the audit trail reaches a real rsyslog over
// TCP (RFC 5424) and over TLS (CEF); events recorded while rsyslog is
// down are delivered, once each, after it comes back.
func TestSIEMExportToRsyslog(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		tls          bool
	}{{"tcp rfc5424", "rfc5424", false}, {"tls cef", "cef", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			target := SIEMTarget{Name: "soc", Syslog: "127.0.0.1:" + port, Format: tc.format}
			var files *TLSFiles
			if tc.tls {
				var err error
				if files, err = GenerateTLS(dir, []string{"127.0.0.1"}, time.Now()); err != nil {
					t.Fatal(err)
				}
				target.TLS, target.CAFile = true, files.CA
			}
			s, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "b.db"), AdminPassword: adminPW,
				DefaultPolicy: `{"blockSeverity":"none","unscanned":"allow"}`, SIEM: []SIEMTarget{target}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			s.Start(ctx)
			ts := serveHTTP(t, s)
			admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
			push := func(tag string) {
				img, _ := random.Image(64, 1)
				r, _ := name.ParseReference(ts.host + "/shop/app:" + tag)
				if err := remote.Write(r, img, admin); err != nil {
					t.Fatal(err)
				}
			}
			// rsyslog is down: events pile up in the trail.
			push("while-down")
			waitFailures(t, s, 1)
			rs := startRsyslog(t, dir, port, files)
			push("after")
			waitFor(t, rs, s)
			// rsyslog restarts: the exporter's connection is dead; what
			// happens meanwhile arrives after.
			rs.cmd.Process.Signal(syscall.SIGTERM)
			rs.cmd.Wait()
			before := s.exporters[0].Failures()
			push("during-restart")
			waitFailures(t, s, before+1)
			rs = startRsyslog(t, dir, port, files)
			push("after-restart")
			last, got, lines := waitFor(t, rs, s)
			for seq := int64(1); seq <= last; seq++ {
				if n := got[fmt.Sprint(seq)]; n != 1 {
					t.Errorf("record %d received %d times", seq, n)
				}
			}
			joined := strings.Join(lines, "\n")
			want := `[bulwark@32473 seq="`
			if tc.format == "cef" {
				want = "CEF:0|bulwark|bulwark|"
			}
			if !strings.Contains(joined, want) || !strings.Contains(joined, "registry.push") || !strings.Contains(joined, "shop/app") {
				t.Errorf("rsyslog got:\n%s", joined)
			}
		})
	}
}

// waitFailures polls, with a deadline, until the exporter has failed at
// least n times (the SIEM was really tried while it was down).
func waitFailures(t *testing.T, s *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.exporters[0].Failures() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the exporter failed %d times, want %d", s.exporters[0].Failures(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor waits until rsyslog has the newest record.
func waitFor(t *testing.T, rs *rsyslog, s *Server) (int64, map[string]int, []string) {
	last, _, _ := s.store.LastAudit(context.Background())
	var got map[string]int
	var lines []string
	for i := 0; i < 200; i++ {
		got, lines = rs.received()
		if got[fmt.Sprint(last)] > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last, got, lines
}

// TestSIEMExportHTTP: JSON lines to an HTTP collector that fails at
// first; nothing is lost or repeated once it recovers.
func TestSIEMExportHTTP(t *testing.T) {
	var mu sync.Mutex
	failing := true
	seen := map[string]int{}
	var auth string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth = r.Header.Get("Authorization")
		if failing {
			http.Error(w, "collector down", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if m := regexp.MustCompile(`"seq":(\d+)`).FindStringSubmatch(l); m != nil {
				seen[m[1]]++
			}
		}
	}))
	t.Cleanup(collector.Close)
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "b.db"), AdminPassword: adminPW,
		SIEM: []SIEMTarget{{Name: "http", HTTP: collector.URL + "/ingest?token=secret", Headers: map[string]string{"Authorization": "Splunk abc"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.Start(ctx)
	for i := 0; i < 5; i++ {
		s.record(ctx, "tester", audit.ActionScanRescan, fmt.Sprint(i), audit.Success, nil)
	}
	waitFailures(t, s, 2) // the collector refused twice
	mu.Lock()
	failing = false
	mu.Unlock()
	last, _, _ := s.store.LastAudit(ctx)
	for i := 0; i < 100; i++ {
		mu.Lock()
		done := seen[fmt.Sprint(last)] > 0
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for seq := int64(1); seq <= last; seq++ {
		if seen[fmt.Sprint(seq)] != 1 {
			t.Errorf("record %d delivered %d times", seq, seen[fmt.Sprint(seq)])
		}
	}
	if auth != "Splunk abc" {
		t.Errorf("Authorization %q", auth)
	}
}

// TestEveryRegistryEventIsAudited: each action the registry reports has
// an audit action, so no push, pull, delete or mount is recorded
// without a name a SIEM rule can match.
func TestEveryRegistryEventIsAudited(t *testing.T) {
	for _, a := range registry.EventActions {
		if _, ok := registryActions[a]; !ok {
			t.Errorf("registry event %q has no audit action", a)
		}
	}
}
