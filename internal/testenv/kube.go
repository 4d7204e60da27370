package testenv

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Kube is a real kube-apiserver on a real etcd, both on 127.0.0.1, with
// an administrator's token. No scheduler or nodes run: pods stay
// Pending, which is all admission needs.
type Kube struct {
	URL, Token string
	// Kubeconfig is a kubeconfig file for kubectl and bulwark.
	Kubeconfig string
	// Dir holds the servers' files: etcd's data (etcd/), the
	// certificates (certs/), the logs.
	Dir    string
	Client *http.Client
}

// KubeAPIServer starts etcd and kube-apiserver for the test.
// BULWARK_KUBE_APISERVER names the kube-apiserver binary
// (scripts/kube-apiserver.sh builds it; .ci/run sets the variable); etcd
// comes from Debian's etcd-server.
func KubeAPIServer(t testing.TB) *Kube { return KubeAPIServerWith(t, KubeOptions{}) }

// KubeOptions change how KubeAPIServerWith starts the servers.
type KubeOptions struct {
	// APIServerName and EtcdName run the binaries under these names (a
	// symbolic link), so that a test reading the process table (the CIS
	// benchmark's `ps -ef | grep NAME`) finds its own servers only. At
	// most 15 characters: the kernel's process name is cut there.
	APIServerName, EtcdName string
	// APIServerArgs are added to kube-apiserver's command line.
	APIServerArgs []string
}

// KubeAPIServerWith is KubeAPIServer with options.
func KubeAPIServerWith(t testing.TB, o KubeOptions) *Kube {
	t.Helper()
	bin := os.Getenv("BULWARK_KUBE_APISERVER")
	etcd, etcdErr := exec.LookPath("etcd")
	if bin == "" || etcdErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("BULWARK_KUBE_APISERVER is unset or etcd is missing: .ci/run builds kube-apiserver (scripts/kube-apiserver.sh) and installs etcd-server")
		}
		t.Skip("needs BULWARK_KUBE_APISERVER=$(bash scripts/kube-apiserver.sh) and etcd (apt-get install etcd-server); CI has both")
	}
	dir := t.TempDir()
	rename := func(bin, name string) string {
		if name == "" {
			return bin
		}
		link := filepath.Join(dir, name)
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
		return link
	}
	bin, etcd = rename(bin, o.APIServerName), rename(etcd, o.EtcdName)
	clientPort, peerPort, securePort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	start(t, filepath.Join(dir, "etcd.log"), etcd, "--data-dir", filepath.Join(dir, "etcd"), "--name", "test",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("test=http://127.0.0.1:%d", peerPort))

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
	tokenBytes := make([]byte, 16)
	rand.Read(tokenBytes)
	token := fmt.Sprintf("%x", tokenBytes)
	os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin-uid,system:masters\n"), 0o600)
	certDir := filepath.Join(dir, "certs")
	// The options' arguments come last: the last of a repeated flag wins.
	start(t, filepath.Join(dir, "apiserver.log"), bin, append([]string{
		"--etcd-servers=" + etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none", "--allow-privileged=true",
		fmt.Sprintf("--secure-port=%d", securePort), "--cert-dir=" + certDir,
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24"}, o.APIServerArgs...)...)
	k := &Kube{URL: fmt.Sprintf("https://127.0.0.1:%d", securePort), Token: token, Dir: dir}
	deadline := time.Now().Add(90 * time.Second)
	var lastErr error
	for {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "apiserver.log"))
			t.Fatalf("kube-apiserver not ready in 90 s (%v):\n%s", lastErr, tail(log))
		}
		time.Sleep(300 * time.Millisecond)
		ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
		if err != nil {
			lastErr = err
			continue
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		k.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		code, body := k.Do(t, "GET", "/readyz", nil)
		if code == http.StatusOK {
			break
		}
		lastErr = fmt.Errorf("readyz: %d %s", code, body)
	}
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
	os.WriteFile(k.Kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: test, user: admin}
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
`, k.URL, filepath.Join(certDir, "apiserver.crt"), token)), 0o600)
	return k
}

// Do sends one request as the administrator; body is marshalled to
// JSON unless it is a []byte (YAML or JSON already).
func (k *Kube) Do(t testing.TB, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
		if !json.Valid(b) {
			ct = "application/yaml"
		}
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, k.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.Token)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", ct)
		if method == http.MethodPatch {
			req.Header.Set("Content-Type", "application/strategic-merge-patch+json")
		}
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Namespace creates a namespace with labels and its default service
// account (no controller manager runs to create it).
func (k *Kube) Namespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ns := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}}
	if code, body := k.Do(t, "POST", "/api/v1/namespaces", ns); code != http.StatusCreated && !strings.Contains(body, "AlreadyExists") {
		t.Fatalf("create namespace %s: %d %s", name, code, body)
	}
	sa := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default"}}
	if code, body := k.Do(t, "POST", "/api/v1/namespaces/"+name+"/serviceaccounts", sa); code != http.StatusCreated && !strings.Contains(body, "AlreadyExists") {
		t.Fatalf("create the default service account in %s: %d %s", name, code, body)
	}
}

// Kubectl runs kubectl against the cluster and returns its combined
// output and exit error.
func (k *Kube) Kubectl(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a daemon for the test's lifetime, logging to logFile.
func start(t testing.TB, logFile, bin string, args ...string) {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
}
