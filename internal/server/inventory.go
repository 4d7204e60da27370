package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/store"
)

const kindInventory = "inventory.cluster"

// Inventory is the cluster whose running pods count in the patch clock:
// a fix counts once no tag names, and no pod runs, the old digest.
type Inventory struct {
	// Kubeconfig reaches the cluster (its current context); empty: no
	// inventory is kept.
	Kubeconfig string
	// Name names the cluster in the inventory (default: the kubeconfig's
	// current context).
	Name string
	// Schedule is how often the pods are listed (default every 10
	// minutes).
	Schedule string
}

// DefaultInventorySchedule lists a cluster's pods every ten minutes: a
// clock stops at most that late after the last old pod is gone.
const DefaultInventorySchedule = "*/10 * * * *"

func (s *Server) scheduleInventory(ctx context.Context) error {
	inv := s.cfg.Inventory
	if inv.Kubeconfig == "" {
		return s.store.DeleteSchedule(ctx, "inventory-cluster")
	}
	if _, err := admission.LoadKubeconfig(inv.Kubeconfig); err != nil {
		return fmt.Errorf("--inventory-kubeconfig: %w", err)
	}
	spec := inv.Schedule
	if spec == "" {
		spec = DefaultInventorySchedule
	}
	if err := s.jobs.Schedule(ctx, "inventory-cluster", spec, kindInventory, ""); err != nil {
		return fmt.Errorf("--inventory-schedule %q: %w", spec, err)
	}
	return nil
}

func (s *Server) inventoryJob(ctx context.Context, _ *store.Job) error {
	_, err := s.RecordInventory(ctx)
	return err
}

// InventoryResult is what one listing of the cluster's pods found.
type InventoryResult struct {
	Cluster string `json:"cluster"`
	// Running is how many containers run images of this registry;
	// Foreign how many run images of other registries (not tracked).
	Running, Foreign int
	// Started and Ended count the periods the listing opened and closed.
	Started, Ended int
}

// RecordInventory lists the cluster's pods and makes the containers that
// run this registry's images the cluster's inventory. A cluster that
// cannot be listed leaves the inventory as it was: unreachable is not
// stopped.
func (s *Server) RecordInventory(ctx context.Context) (InventoryResult, error) {
	inv := s.cfg.Inventory
	c, err := admission.LoadKubeconfig(inv.Kubeconfig)
	if err != nil {
		return InventoryResult{}, err
	}
	res := InventoryResult{Cluster: inv.Name}
	if res.Cluster == "" {
		res.Cluster = c.Context
	}
	cs, err := c.RunningContainers(ctx)
	if err != nil {
		return res, fmt.Errorf("inventory of cluster %s: %w", res.Cluster, err)
	}
	var ws []store.WorkloadImage
	for _, ct := range cs {
		repo, digest, ok, err := s.runningDigest(ctx, ct)
		if err != nil {
			return res, fmt.Errorf("inventory of cluster %s: %s/%s: %w", res.Cluster, ct.Namespace, ct.Pod, err)
		}
		if !ok {
			res.Foreign++
			continue
		}
		res.Running++
		ws = append(ws, store.WorkloadImage{Workload: ct.Namespace + "/" + ct.Pod + "/" + ct.Container, Repo: repo, Digest: digest})
	}
	if res.Started, res.Ended, err = s.store.RecordWorkloads(ctx, res.Cluster, ws); err != nil {
		return res, err
	}
	s.cfg.Logger.Info("cluster inventory", "cluster", res.Cluster, "running", res.Running, "foreign", res.Foreign, "started", res.Started, "ended", res.Ended)
	return res, nil
}

// runningDigest is the digest of this registry that a container runs:
// the one the kubelet reports it pulled, else the one its reference
// names (a pending pod pulls what its tag names now). ok is false for
// another registry's image.
func (s *Server) runningDigest(ctx context.Context, ct admission.RunningContainer) (repo, digest string, ok bool, err error) {
	// The kubelet's imageID: "host/repo@sha256:...", with Docker's
	// "docker-pullable://" in front; a bare "sha256:..." is the image
	// ID, which names no repository.
	id := strings.TrimPrefix(strings.TrimPrefix(ct.ImageID, "docker-pullable://"), "docker://")
	if d, err := name.NewDigest(id); err == nil && s.servesHost(d.Context().RegistryStr()) {
		return d.Context().RepositoryStr(), d.DigestStr(), true, nil
	}
	ref, err := name.ParseReference(ct.Image)
	if err != nil || !s.servesHost(ref.Context().RegistryStr()) {
		return "", "", false, nil
	}
	repo = ref.Context().RepositoryStr()
	if d, isDigest := ref.(name.Digest); isDigest {
		return repo, d.DigestStr(), true, nil
	}
	digest, err = s.store.ResolveTag(ctx, repo, ref.Identifier())
	if errors.Is(err, store.ErrNotFound) {
		return "", "", false, nil // a tag this registry does not hold: nothing it serves runs
	}
	return repo, digest, err == nil, err
}
