package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// DockerAPI is the part of a Docker Engine client gathering needs; the
// image package's DockerClient implements it.
type DockerAPI interface {
	GetJSON(ctx context.Context, path string, v any) error
}

// GatherDocker takes a snapshot of a Docker Engine for the docker checks:
// its /info, default bridge, running containers and, when the engine is
// local, its daemon.json, dockerd's command line and its files' ownership
// (read under root, "/" on the host itself).
func GatherDocker(ctx context.Context, api DockerAPI, host string, local bool, root string) (*DockerState, error) {
	st := &DockerState{Host: host}
	if err := api.GetJSON(ctx, "/info", &st.Info); err != nil {
		return nil, err
	}
	var bridge struct{ Options map[string]string }
	if err := api.GetJSON(ctx, "/networks/bridge", &bridge); err == nil {
		st.BridgeOptions = bridge.Options
	}
	var list []struct {
		ID string `json:"Id"`
	}
	if err := api.GetJSON(ctx, "/containers/json", &list); err != nil {
		return nil, err
	}
	for _, c := range list {
		var dc DockerContainer
		if err := api.GetJSON(ctx, "/containers/"+url.PathEscape(c.ID)+"/json", &dc); err != nil {
			return nil, err
		}
		st.Containers = append(st.Containers, dc)
	}
	sort.Slice(st.Containers, func(i, j int) bool { return st.Containers[i].Name < st.Containers[j].Name })
	if !local {
		return st, nil
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/docker/daemon.json")); err == nil {
		if err := json.Unmarshal(b, &st.DaemonConfig); err != nil {
			return nil, fmt.Errorf("/etc/docker/daemon.json: %w", err)
		}
	}
	st.DaemonArgs = DockerdArgs(filepath.Join(root, "proc"))
	paths := make([]string, 0, len(dockerFileRules))
	for p := range dockerFileRules {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			continue
		}
		sys, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		f := DockerFile{Path: p, UID: int(sys.Uid), GID: int(sys.Gid), Mode: uint32(fi.Mode().Perm()), Dir: fi.IsDir()}
		if g, err := user.LookupGroupId(strconv.Itoa(f.GID)); err == nil {
			f.Group = g.Name
		}
		st.Files = append(st.Files, f)
	}
	return st, nil
}

// DockerdArgs finds the dockerd process under a proc directory and
// returns its command line.
func DockerdArgs(proc string) []string {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) == "dockerd" {
			return args
		}
	}
	return nil
}
