// Package kubebench runs the CIS Kubernetes Benchmark from kube-bench's
// own definitions, read as data: its cfg/config.yaml (where each
// component's binaries and files are, which benchmark applies to which
// Kubernetes version, which targets a benchmark has) and its controls
// files (cfg/<benchmark>/<target>.yaml: groups of checks, each an audit
// command and tests on its output). A check's verdict (PASS, FAIL, WARN,
// INFO) follows kube-bench's rules, so a report compares with
// kube-bench's check by check; docs/cis-kubernetes.md lists where bulwark
// differs.
package kubebench

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is kube-bench's config.yaml, with a benchmark's own config.yaml
// merged over it.
type Config struct {
	Dir string
	raw map[string]any
}

// LoadConfig reads dir/config.yaml.
func LoadConfig(dir string) (*Config, error) {
	raw, err := readYAMLMap(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: empty; not a kube-bench config.yaml", filepath.Join(dir, "config.yaml"))
	}
	return &Config{Dir: dir, raw: raw}, nil
}

func readYAMLMap(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// withBenchmark returns the configuration with cfg/<benchmark>/config.yaml
// merged in (its keys win, maps merge deeply), as kube-bench does.
func (c *Config) withBenchmark(benchmark string) (*Config, error) {
	over, err := readYAMLMap(filepath.Join(c.Dir, benchmark, "config.yaml"))
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	return &Config{Dir: c.Dir, raw: merge(c.raw, over)}, nil
}

func merge(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// section is config.yaml's part for one target (master, node, etcd, …).
func (c *Config) section(target string) map[string]any {
	m, _ := c.raw[target].(map[string]any)
	return m
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, e := range m {
		out[k] = fmt.Sprint(e)
	}
	return out
}

// Benchmark maps a Kubernetes version ("1.37", "v1.37.2") to the
// benchmark kube-bench would pick: the version_mapping entry for it, or
// for the nearest lower minor version.
func (c *Config) Benchmark(kubeVersion string) (string, error) {
	m := stringMap(c.raw["version_mapping"])
	if len(m) == 0 {
		return "", fmt.Errorf("%s: no version_mapping section", filepath.Join(c.Dir, "config.yaml"))
	}
	v := strings.TrimPrefix(kubeVersion, "v")
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		v = parts[0] + "." + strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	}
	for cur := v; cur != ""; cur = decrement(cur) {
		if b, ok := m[cur]; ok {
			return b, nil
		}
	}
	return "", fmt.Errorf("no benchmark for Kubernetes %s in %s's version_mapping (give --benchmark)", kubeVersion, filepath.Join(c.Dir, "config.yaml"))
}

func decrement(v string) string {
	major, minor, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(minor)
	if !ok || err != nil || n <= 1 {
		return ""
	}
	return major + "." + strconv.Itoa(n-1)
}

// Targets are the targets (master, node, etcd, controlplane, policies,
// managedservices) a benchmark defines, in config.yaml's order.
func (c *Config) Targets(benchmark string) ([]string, error) {
	m, _ := c.raw["target_mapping"].(map[string]any)
	t := stringList(m[benchmark])
	if len(t) == 0 {
		return nil, fmt.Errorf("benchmark %q has no targets in %s's target_mapping", benchmark, filepath.Join(c.Dir, "config.yaml"))
	}
	return t, nil
}

// Benchmarks lists the benchmarks config.yaml knows.
func (c *Config) Benchmarks() []string {
	m, _ := c.raw["target_mapping"].(map[string]any)
	return slices.Sorted(maps.Keys(m))
}
