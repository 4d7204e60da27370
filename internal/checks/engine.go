package checks

import (
	"context"
	"fmt"
	"sort"

	"bulwark.dev/bulwark/internal/severity"
)

// Result is a check's verdict on one object.
type Result struct {
	CheckID  string         `json:"checkID"`
	Title    string         `json:"title"`
	Severity severity.Level `json:"severity"`
	// Status is "pass", "fail" or "excepted".
	Status  string    `json:"status"`
	Object  ObjectRef `json:"object"`
	Line    int       `json:"line"`
	Message string    `json:"message,omitempty"`
	// Exception says why a failure does not count.
	Exception  *Exception          `json:"exception,omitempty"`
	References map[string][]string `json:"references,omitempty"`
}

// ObjectRef names the object a result is about.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	File      string `json:"file"`
	Line      int    `json:"line"`
}

// Exception is where an exception came from.
type Exception struct {
	Source  string `json:"source"` // "annotation" or the exceptions file
	Reason  string `json:"reason"`
	Expires string `json:"expires,omitempty"`
}

// Run applies every check to the objects it targets and returns passes,
// failures and excepted failures, sorted by file, line and check. When
// ctx ends first (a deadline, a cancelled request) Run stops between
// checks, and Rego policies stop mid-evaluation, and returns ctx's
// error with no results: a gate must not decide on part of the checks.
func Run(ctx context.Context, checks []*Check, objs []*Object, env *Env, exc Exceptions) ([]Result, error) {
	if env == nil {
		env = DefaultEnv()
	}
	readable := make([]*Object, 0, len(objs))
	for _, o := range objs {
		if o.unreadable == nil {
			readable = append(readable, o)
		}
	}
	linkServiceAccounts(readable)
	var out []Result
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		targets := readable
		if c.Target == TargetInput {
			targets = objs
		}
		if c.set != nil {
			for _, so := range c.set(env, targets) {
				out = append(out, verdicts(c, so.Subject, so.Failures, exc)...)
			}
			continue
		}
		for _, o := range targets {
			if !c.applies(o) {
				continue
			}
			var fails []Failure
			if c.checkCtx != nil {
				fails = c.checkCtx(ctx, env, o)
			} else {
				fails = c.check(env, o)
			}
			out = append(out, verdicts(c, o, fails, exc)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Object.File != b.Object.File {
			return a.Object.File < b.Object.File
		}
		if a.Object.Line != b.Object.Line {
			return a.Object.Line < b.Object.Line
		}
		if a.CheckID != b.CheckID {
			return a.CheckID < b.CheckID
		}
		return a.Line < b.Line
	})
	if err := ctx.Err(); err != nil {
		return nil, err // a policy may have been cut short
	}
	return out, nil
}

func verdicts(c *Check, o *Object, fails []Failure, exc Exceptions) []Result {
	ref := ObjectRef{Kind: o.Kind, Name: o.Name, Namespace: o.Namespace, File: o.File, Line: o.Line}
	base := Result{CheckID: c.ID, Title: c.Title, Severity: c.Severity, Object: ref, References: c.References}
	if len(fails) == 0 {
		r := base
		r.Status, r.Line = "pass", o.Line
		return []Result{r}
	}
	var ex *Exception
	if reason, ok := annotationExceptions(o)[c.ID]; ok {
		ex = &Exception{Source: "annotation bulwark.dev/ignore", Reason: reason}
	} else if exc != nil {
		for _, name := range o.exceptionNames() {
			if reason, src, exp, ok := exc.CheckException(c.ID, name, o.File); ok {
				ex = &Exception{Source: src, Reason: reason, Expires: exp}
				break
			}
		}
	}
	var out []Result
	for _, f := range fails {
		r := base
		r.Status, r.Message, r.Line = "fail", f.Message, f.Line
		if r.Line == 0 {
			r.Line = o.Line
		}
		if ex != nil {
			r.Status, r.Exception = "excepted", ex
		}
		out = append(out, r)
	}
	return out
}

// Failing counts failures (not passes, not excepted).
func Failing(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Status == "fail" {
			n++
		}
	}
	return n
}

func failf(line int, format string, args ...any) Failure {
	return Failure{Line: line, Message: fmt.Sprintf(format, args...)}
}

// linkServiceAccounts marks workloads whose ServiceAccount, present in
// the same input, sets automountServiceAccountToken: false; the pod spec
// inherits it unless it says otherwise.
func linkServiceAccounts(objs []*Object) {
	off := map[string]bool{}
	for _, o := range objs {
		if o.Kind == "ServiceAccount" {
			if v, ok := o.raw["automountServiceAccountToken"].(bool); ok && !v {
				off[namespaceOf(o)+"/"+o.Name] = true
			}
		}
	}
	if len(off) == 0 {
		return
	}
	for _, o := range objs {
		if o.pod == nil {
			continue
		}
		sa := o.pod.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		o.saNoAutomount = off[namespaceOf(o)+"/"+sa]
	}
}
