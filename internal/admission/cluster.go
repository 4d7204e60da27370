package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/k8s"
)

// Cluster is a Kubernetes API server reached with a kubeconfig's current
// context: enough to list workloads, without client-go (which would cost
// every bulwark command its start-up time).
type Cluster struct {
	// Context is the kubeconfig context it was read from.
	Context string
	Server  string
	Token   string
	Client  *http.Client
}

type kubeconfig struct {
	CurrentContext string `json:"current-context"`
	Contexts       []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Clusters []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server                   string `json:"server"`
			CertificateAuthority     string `json:"certificate-authority"`
			CertificateAuthorityData string `json:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify"`
		} `json:"cluster"`
	} `json:"clusters"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token                 string `json:"token"`
			TokenFile             string `json:"tokenFile"`
			ClientCertificate     string `json:"client-certificate"`
			ClientCertificateData string `json:"client-certificate-data"`
			ClientKey             string `json:"client-key"`
			ClientKeyData         string `json:"client-key-data"`
			Exec                  any    `json:"exec"`
		} `json:"user"`
	} `json:"users"`
}

// LoadKubeconfig reads the current context of a kubeconfig: server, CA,
// and a token or client certificate. Exec plugins are not run.
func LoadKubeconfig(file string) (*Cluster, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", file, err)
	}
	dir := filepath.Dir(file)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var clusterName, userName string
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	if clusterName == "" {
		return nil, fmt.Errorf("kubeconfig %s: current-context %q names no context", file, kc.CurrentContext)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	c := &Cluster{Context: kc.CurrentContext}
	found := false
	for _, cl := range kc.Clusters {
		if cl.Name != clusterName {
			continue
		}
		found = true
		c.Server = strings.TrimSuffix(cl.Cluster.Server, "/")
		var ca []byte
		switch {
		case cl.Cluster.CertificateAuthorityData != "":
			if ca, err = base64.StdEncoding.DecodeString(cl.Cluster.CertificateAuthorityData); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: certificate-authority-data: %w", file, err)
			}
		case cl.Cluster.CertificateAuthority != "":
			if ca, err = os.ReadFile(rel(cl.Cluster.CertificateAuthority)); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", file, err)
			}
		}
		if len(ca) > 0 {
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("kubeconfig %s: the cluster's CA holds no PEM certificate", file)
			}
		}
		tc.InsecureSkipVerify = cl.Cluster.InsecureSkipTLSVerify
	}
	if !found || c.Server == "" {
		return nil, fmt.Errorf("kubeconfig %s: cluster %q has no server", file, clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		switch {
		case u.User.Token != "":
			c.Token = u.User.Token
		case u.User.TokenFile != "":
			t, err := os.ReadFile(rel(u.User.TokenFile))
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", file, err)
			}
			c.Token = strings.TrimSpace(string(t))
		case u.User.Exec != nil:
			return nil, fmt.Errorf("kubeconfig %s: user %q authenticates with an exec plugin, which bulwark does not run: use a token or a client certificate (kubectl create token)", file, userName)
		}
		cert, key := []byte(nil), []byte(nil)
		if u.User.ClientCertificateData != "" {
			cert, _ = base64.StdEncoding.DecodeString(u.User.ClientCertificateData)
			key, _ = base64.StdEncoding.DecodeString(u.User.ClientKeyData)
		} else if u.User.ClientCertificate != "" {
			if cert, err = os.ReadFile(rel(u.User.ClientCertificate)); err == nil {
				key, err = os.ReadFile(rel(u.User.ClientKey))
			}
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", file, err)
			}
		}
		if cert != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: the client certificate: %w", file, err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
	}
	c.Client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	return c, nil
}

// workloadLists are the lists the cluster audit reads.
var workloadLists = []struct{ path, apiVersion, kind string }{
	{"/api/v1/pods", "v1", "Pod"},
	{"/api/v1/replicationcontrollers", "v1", "ReplicationController"},
	{"/apis/apps/v1/deployments", "apps/v1", "Deployment"},
	{"/apis/apps/v1/replicasets", "apps/v1", "ReplicaSet"},
	{"/apis/apps/v1/statefulsets", "apps/v1", "StatefulSet"},
	{"/apis/apps/v1/daemonsets", "apps/v1", "DaemonSet"},
	{"/apis/batch/v1/jobs", "batch/v1", "Job"},
	{"/apis/batch/v1/cronjobs", "batch/v1", "CronJob"},
}

// Workload is one listed workload.
type Workload struct {
	Object *k8s.Object
	UID    string
	// Err is set when the object could not be read.
	Err error
}

// Workloads lists every workload that is not run by a controller (a
// Deployment's ReplicaSets and Pods are judged through the Deployment).
func (c *Cluster) Workloads(ctx context.Context) ([]Workload, error) {
	var out []Workload
	for _, l := range workloadLists {
		err := c.each(ctx, l.path, func(item json.RawMessage) error {
			var meta struct {
				Metadata struct {
					UID             string `json:"uid"`
					OwnerReferences []struct {
						Controller *bool `json:"controller"`
					} `json:"ownerReferences"`
				} `json:"metadata"`
			}
			json.Unmarshal(item, &meta)
			for _, o := range meta.Metadata.OwnerReferences {
				if o.Controller != nil && *o.Controller {
					return nil
				}
			}
			var m map[string]any
			if err := json.Unmarshal(item, &m); err != nil {
				out = append(out, Workload{UID: meta.Metadata.UID, Err: err})
				return nil
			}
			// List items carry no kind.
			m["apiVersion"], m["kind"] = l.apiVersion, l.kind
			b, _ := json.Marshal(m)
			ko, err := k8s.FromJSON(c.Server+l.path, b)
			out = append(out, Workload{Object: ko, UID: meta.Metadata.UID, Err: err})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// each calls fn with every item of a list, 500 a page.
func (c *Cluster) each(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	cont := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cont != "" {
			q.Set("continue", cont)
		}
		var list struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if err := c.get(ctx, path+"?"+q.Encode(), &list); err != nil {
			return err
		}
		for _, item := range list.Items {
			if err := fn(item); err != nil {
				return fmt.Errorf("listing %s: %w", path, err)
			}
		}
		if cont = list.Metadata.Continue; cont == "" {
			return nil
		}
	}
}

func (c *Cluster) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return fmt.Errorf("listing %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("listing %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("listing %s: HTTP %d: %s (the audit needs list on workloads in every namespace)", path, resp.StatusCode, truncate(strings.TrimSpace(string(body)), 300))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("listing %s: %w", path, err)
	}
	return nil
}

// RunningContainer is one container of a pod the cluster runs (or is
// about to: a pod pending its image pull).
type RunningContainer struct {
	Namespace, Pod, Container string
	// Image is the pod spec's reference; ImageID what the kubelet
	// reports it pulled (repo@sha256:..., empty until it has).
	Image, ImageID string
}

// RunningContainers lists the containers of every pod that has not
// finished (phase Succeeded or Failed): the inventory the patch clock
// reads, so that a fix counts only once nothing runs the old digest.
// Init containers count: they ran the image on this node.
func (c *Cluster) RunningContainers(ctx context.Context) ([]RunningContainer, error) {
	type status struct {
		Name    string `json:"name"`
		ImageID string `json:"imageID"`
	}
	type container struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}
	var out []RunningContainer
	err := c.each(ctx, "/api/v1/pods", func(item json.RawMessage) error {
		var p struct {
			Metadata struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Containers          []container `json:"containers"`
				InitContainers      []container `json:"initContainers"`
				EphemeralContainers []container `json:"ephemeralContainers"`
			} `json:"spec"`
			Status struct {
				Phase                      string   `json:"phase"`
				ContainerStatuses          []status `json:"containerStatuses"`
				InitContainerStatuses      []status `json:"initContainerStatuses"`
				EphemeralContainerStatuses []status `json:"ephemeralContainerStatuses"`
			} `json:"status"`
		}
		// A pod that cannot be read fails the listing: skipping it would
		// end its period, and stop a clock on a pod still running.
		if err := json.Unmarshal(item, &p); err != nil {
			return fmt.Errorf("a pod: %w", err)
		}
		if p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			return nil
		}
		ids := map[string]string{}
		for _, ss := range [][]status{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for _, s := range ss {
				ids[s.Name] = s.ImageID
			}
		}
		for _, cs := range [][]container{p.Spec.InitContainers, p.Spec.Containers, p.Spec.EphemeralContainers} {
			for _, ct := range cs {
				out = append(out, RunningContainer{Namespace: p.Metadata.Namespace, Pod: p.Metadata.Name, Container: ct.Name, Image: ct.Image, ImageID: ids[ct.Name]})
			}
		}
		return nil
	})
	return out, err
}
