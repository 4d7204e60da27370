package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DockerClient talks to the Docker Engine API over its socket. It needs no
// docker CLI and no Docker SDK: images come out of `GET /images/{name}/get`
// as a docker save stream.
type DockerClient struct {
	base string
	hc   *http.Client
}

// NewDockerClient returns a client for host ("unix:///path" or
// "tcp://host:port"); empty means DOCKER_HOST or the default socket.
func NewDockerClient(host string) (*DockerClient, error) {
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	tr := &http.Transport{}
	c := &DockerClient{hc: &http.Client{Transport: tr}}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		c.base = "http://docker"
	case "tcp", "http":
		c.base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("docker host %q: unsupported scheme %q (use unix:// or tcp://)", host, u.Scheme)
	}
	return c, nil
}

// Get performs a GET on an API path and returns the open response body.
func (c *DockerClient) Get(ctx context.Context, p string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w (is the Docker daemon running? set DOCKER_HOST otherwise)", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = json.Unmarshal(b, &e)
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("docker engine: GET %s: %s: %s", p, resp.Status, e.Message)
	}
	return resp.Body, nil
}

// GetJSON decodes the JSON answer of an API path into v.
func (c *DockerClient) GetJSON(ctx context.Context, p string, v any) error {
	body, err := c.Get(ctx, p)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := json.NewDecoder(io.LimitReader(body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("docker engine: GET %s: %w", p, err)
	}
	return nil
}

func openDaemon(ctx context.Context, ref Ref, opts Options) (*Image, error) {
	c, err := NewDockerClient(opts.DockerHost)
	if err != nil {
		return nil, err
	}
	var inspect struct {
		ID       string `json:"Id"`
		RepoTags []string
	}
	if err := c.GetJSON(ctx, "/images/"+url.PathEscape(ref.Name)+"/json", &inspect); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.TempDir, "bulwark-docker-")
	if err != nil {
		return nil, err
	}
	rm := func() error { return os.RemoveAll(dir) }
	img, err := saveFromDaemon(ctx, c, inspect.ID, dir)
	if err != nil {
		rm()
		return nil, err
	}
	img.cleanup = append(img.cleanup, rm)
	img.Name = ref.Name
	img.Tag = ""
	if img.ID != inspect.ID {
		img.Close()
		return nil, fmt.Errorf("%w: the engine reported image %s but saved %s", ErrDigestMismatch, inspect.ID, img.ID)
	}
	return img, nil
}

// saveFromDaemon streams `docker save` of one image ID into dir and opens
// it as a docker archive.
func saveFromDaemon(ctx context.Context, c *DockerClient, id, dir string) (*Image, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	body, err := c.Get(ctx, "/images/"+url.PathEscape(id)+"/get")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	file := filepath.Join(dir, "image.tar")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return nil, fmt.Errorf("docker engine: save %s: %w", id, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	img, err := dockerArchive(f, file, "")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("docker engine: save %s: %w", id, err)
	}
	img.cleanup = append(img.cleanup, f.Close)
	return img, nil
}
