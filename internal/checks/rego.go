package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"bulwark.dev/bulwark/internal/severity"
)

// LoadRego compiles every *.rego module under dir into custom checks.
// Each module is one check: it declares
//
//	metadata := {"id": "ACME-001", "title": "...", "severity": "HIGH",
//	             "target": "kubernetes", "description": "...", "remediation": "..."}
//
// and a deny rule whose messages are failures (a string, or an object
// with "msg" and an optional "line"):
//
//	deny contains msg if { ... }
//
// The input is the object's normalized form (see RegoInput). Queries are
// prepared once and evaluated per object.
func LoadRego(ctx context.Context, dir string) ([]*Check, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".rego") && !strings.HasSuffix(p, "_test.rego") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("policy directory %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("policy directory %s holds no .rego file", dir)
	}
	sort.Strings(files)
	var out []*Check
	seen := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		mod, err := ast.ParseModuleWithOpts(f, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", f, err)
		}
		pkg := mod.Package.Path.String()
		meta, err := rego.New(rego.Query(pkg+".metadata"), rego.Module(f, string(src))).Eval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy %s: metadata: %w", f, err)
		}
		if len(meta) == 0 || len(meta[0].Expressions) == 0 {
			return nil, fmt.Errorf("policy %s: no metadata rule (metadata := {\"id\": ..., \"title\": ..., \"severity\": ..., \"target\": ...})", f)
		}
		m, ok := meta[0].Expressions[0].Value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("policy %s: metadata is not an object", f)
		}
		c, err := regoCheck(f, m)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[c.ID]; dup {
			return nil, fmt.Errorf("policy %s: check ID %s is already declared by %s", f, c.ID, prev)
		}
		seen[c.ID] = f
		q, err := rego.New(rego.Query(pkg+".deny"), rego.Module(f, string(src))).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", f, err)
		}
		target := c.Target
		c.applies = func(o *Object) bool { return regoTargetMatches(target, o) }
		c.checkCtx = func(ctx context.Context, _ *Env, o *Object) []Failure { return evalDeny(ctx, q, f, o) }
		out = append(out, c)
	}
	return out, nil
}

func regoCheck(file string, m map[string]any) (*Check, error) {
	str := func(k string) string { s, _ := m[k].(string); return s }
	c := &Check{ID: str("id"), Title: str("title"), Target: str("target"), Description: str("description"), Remediation: str("remediation")}
	if c.ID == "" || c.Title == "" {
		return nil, fmt.Errorf("policy %s: metadata needs id and title", file)
	}
	if strings.HasPrefix(c.ID, "BW-") {
		return nil, fmt.Errorf("policy %s: ID %s: the BW- prefix is reserved for built-in checks", file, c.ID)
	}
	switch c.Target {
	case TargetKubernetes, TargetDockerfile, TargetCompose:
	case "":
		c.Target = TargetKubernetes
	default:
		return nil, fmt.Errorf("policy %s: target %q (want kubernetes, dockerfile or compose)", file, c.Target)
	}
	lvl, err := severity.Parse(str("severity"))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	c.Severity = lvl
	if c.Description == "" {
		c.Description = c.Title
	}
	return c, nil
}

func regoTargetMatches(target string, o *Object) bool {
	switch target {
	case TargetDockerfile:
		return o.dockerfile != nil
	case TargetCompose:
		return o.compose != nil
	}
	return o.raw != nil
}

// RegoInput is the normalized input a policy sees: a Kubernetes object as
// written, a Dockerfile as stages of instructions, a compose file as its
// services.
func RegoInput(o *Object) map[string]any {
	switch {
	case o.dockerfile != nil:
		var stages []any
		for _, s := range o.dockerfile.Stages {
			var insts []any
			for _, in := range s.Instructions {
				insts = append(insts, map[string]any{"cmd": in.Cmd, "args": toAny(in.Args), "flags": toAny(in.Flags), "line": in.Line, "original": in.Original})
			}
			stages = append(stages, map[string]any{"from": s.From, "name": s.Name, "line": s.Line, "instructions": insts})
		}
		return map[string]any{"kind": "Dockerfile", "file": o.File, "stages": stages}
	case o.compose != nil:
		svcs := map[string]any{}
		for _, s := range o.compose.services {
			svcs[s.name] = s.raw
		}
		return map[string]any{"kind": "ComposeFile", "file": o.File, "services": svcs}
	}
	return o.raw
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func evalDeny(ctx context.Context, q rego.PreparedEvalQuery, file string, o *Object) []Failure {
	in, err := o.regoValue()
	if err != nil {
		return []Failure{failf(o.Line, "policy %s: input: %v", file, err)}
	}
	rs, err := q.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return []Failure{failf(o.Line, "policy %s failed to evaluate: %v", file, err)}
	}
	var out []Failure
	for _, r := range rs {
		for _, e := range r.Expressions {
			items, _ := e.Value.([]any)
			for _, it := range items {
				switch v := it.(type) {
				case string:
					out = append(out, Failure{Line: o.Line, Message: v})
				case map[string]any:
					f := Failure{Line: o.Line, Message: fmt.Sprint(v["msg"])}
					if n, ok := v["line"].(jsonNumber); ok {
						if i, err := n.Int64(); err == nil && i > 0 {
							f.Line = int(i)
						}
					}
					out = append(out, f)
				}
			}
		}
	}
	sortFailures(out)
	return out
}

// regoValue converts the object's input once, shared by every policy.
func (o *Object) regoValue() (ast.Value, error) {
	o.regoOnce.Do(func() { o.regoIn, o.regoErr = ast.InterfaceToValue(RegoInput(o)) })
	return o.regoIn, o.regoErr
}
