// Package dockerfile is the model of a Dockerfile that bulwark's
// hardening checks read and that the rebuild graph (DESIGN M14) follows:
// stages in order, each instruction with its line, which stage builds
// on which, and the base images with build arguments resolved the way
// BuildKit resolves them. Parsing is BuildKit's own parser, so a file
// is read here as `docker build` reads it.
package dockerfile

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// File is a parsed Dockerfile.
type File struct {
	Stages []*Stage
	// Args are the ARG instructions before the first FROM: the only
	// ones a FROM line can use.
	Args []Instruction
	// Escape is the escape character (the escape= directive; \ unless
	// set).
	Escape rune
}

// Stage is one FROM and what follows it.
type Stage struct {
	// From is the image or stage reference as written.
	From string
	// Name is the AS name, as written.
	Name string
	// Platform is the --platform flag, as written.
	Platform string
	Line     int
	// FromStage says From names an earlier stage.
	FromStage    bool
	Instructions []Instruction
}

// Instruction is one instruction, continuations joined.
type Instruction struct {
	// Cmd is lower case: run, user, add, env, ...
	Cmd   string
	Args  []string
	Flags []string
	Line  int
	// Original is the instruction as written.
	Original string
}

// Error is a file BuildKit would refuse, with the line when known.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Parse reads a Dockerfile.
func Parse(b []byte) (*File, error) {
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, &Error{Msg: "not a valid Dockerfile: " + err.Error()}
	}
	f := &File{Escape: res.EscapeToken}
	names := map[string]bool{}
	var cur *Stage
	for _, n := range res.AST.Children {
		in := Instruction{Cmd: strings.ToLower(n.Value), Flags: n.Flags, Line: n.StartLine, Original: n.Original}
		for a := n.Next; a != nil; a = a.Next {
			in.Args = append(in.Args, a.Value)
		}
		for _, h := range n.Heredocs {
			in.Args = append(in.Args, h.Content)
		}
		if in.Cmd == "from" {
			if len(in.Args) != 1 && (len(in.Args) != 3 || !strings.EqualFold(in.Args[1], "as")) {
				return nil, &Error{Line: in.Line, Msg: fmt.Sprintf("FROM takes an image and an optional AS name (FROM IMAGE[:TAG] [AS NAME]), not %q", strings.Join(in.Args, " "))}
			}
			cur = &Stage{Line: in.Line, From: in.Args[0], FromStage: names[strings.ToLower(in.Args[0])]}
			for _, fl := range in.Flags {
				if p, ok := strings.CutPrefix(fl, "--platform="); ok {
					cur.Platform = p
				}
			}
			if len(in.Args) == 3 {
				cur.Name = in.Args[2]
				names[strings.ToLower(cur.Name)] = true
			}
			f.Stages = append(f.Stages, cur)
			continue
		}
		if cur == nil {
			if in.Cmd == "arg" {
				f.Args = append(f.Args, in)
			}
			continue
		}
		cur.Instructions = append(cur.Instructions, in)
	}
	if len(f.Stages) == 0 {
		return nil, &Error{Msg: "no FROM instruction: not a Dockerfile"}
	}
	return f, nil
}

// Final is the stage that becomes the image (the last one, as `docker
// build` without --target builds).
func (f *File) Final() *Stage { return f.Stages[len(f.Stages)-1] }

// ParentStage is the earlier stage s is built FROM, or nil.
func (f *File) ParentStage(s *Stage) *Stage {
	if !s.FromStage {
		return nil
	}
	for _, p := range f.Stages {
		if p == s {
			return nil // only stages before s can be its base
		}
		if strings.EqualFold(p.Name, s.From) {
			return p
		}
	}
	return nil
}

// Base is an image a stage is built from: what a rebuild follows when
// that image changes.
type Base struct {
	// Stage is the index of the stage in File.Stages.
	Stage int
	// Ref is the FROM reference with build arguments substituted.
	Ref  string
	Line int
	// Unresolved names the arguments Ref uses that have no value (no
	// default and none given): Ref is then not the image a build uses.
	Unresolved []string
}

// platformArgs are the arguments BuildKit defines for every build,
// for a linux/amd64 target built on linux/amd64 unless given.
var platformArgs = map[string]string{
	"TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64", "TARGETVARIANT": "",
	"BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64", "BUILDVARIANT": "",
}

// Bases lists the images the stages are built from, in stage order:
// stages built on an earlier stage and FROM scratch are left out. The
// arguments of FROM lines are the ARGs before the first FROM, their
// defaults overridden by buildArgs (as --build-arg does) and each
// default expanded with the arguments declared before it.
func (f *File) Bases(buildArgs map[string]string) []Base {
	env := envMap{}
	for k, v := range platformArgs {
		env[k] = v
	}
	lex := shell.NewLex(f.Escape)
	for _, in := range f.Args {
		for _, a := range in.Args {
			k, def, hasDefault := strings.Cut(a, "=")
			if v, ok := buildArgs[k]; ok {
				env[k] = v
				continue
			}
			if !hasDefault {
				delete(env, k) // declared without a value: unset
				continue
			}
			if v, _, err := lex.ProcessWord(def, env); err == nil {
				env[k] = v
			} else {
				env[k] = def
			}
		}
	}
	for k, v := range buildArgs {
		if _, ok := platformArgs[k]; ok {
			env[k] = v
		}
	}
	stageNames := map[string]bool{}
	var out []Base
	for i, s := range f.Stages {
		isStage := s.FromStage
		ref := s.From
		var unresolved []string
		if !isStage {
			if res, err := lex.ProcessWordWithMatches(s.From, env); err == nil {
				ref = res.Result
				for k := range res.Unmatched {
					// ${K:-default} and ${K-default} have a value.
					if !strings.Contains(s.From, "${"+k+":-") && !strings.Contains(s.From, "${"+k+"-") {
						unresolved = append(unresolved, k)
					}
				}
				sort.Strings(unresolved)
			}
			isStage = stageNames[strings.ToLower(ref)] // FROM ${BUILDER}
		}
		if s.Name != "" {
			stageNames[strings.ToLower(s.Name)] = true
		}
		if isStage || strings.EqualFold(ref, "scratch") {
			continue
		}
		out = append(out, Base{Stage: i, Ref: ref, Line: s.Line, Unresolved: unresolved})
	}
	return out
}

// envMap is the argument scope shell expansion reads.
type envMap map[string]string

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
