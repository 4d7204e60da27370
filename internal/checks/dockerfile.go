package checks

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfile is a parsed Dockerfile: its stages in order.
type dockerfile struct {
	stages []*stage
	// args are ARG instructions before the first FROM.
	args []instruction
}

type stage struct {
	from      string // image reference as written
	name      string // AS name
	line      int
	insts     []instruction
	fromStage bool // FROM names an earlier stage
}

type instruction struct {
	cmd   string // lower case: run, user, add, env, ...
	args  []string
	flags []string
	line  int
	// original is the instruction as written (continuations joined).
	original string
}

func parseDockerfile(name string, b []byte) (*Object, *LoadError) {
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, &LoadError{File: name, Err: "not a valid Dockerfile: " + err.Error()}
	}
	df := &dockerfile{}
	names := map[string]bool{}
	var cur *stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, line: n.StartLine, original: n.Original}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		for _, h := range n.Heredocs {
			in.args = append(in.args, h.Content)
		}
		if in.cmd == "from" {
			if len(in.args) != 1 && (len(in.args) != 3 || !strings.EqualFold(in.args[1], "as")) {
				return nil, &LoadError{File: name, Line: in.line, Err: fmt.Sprintf("FROM takes an image and an optional AS name (FROM IMAGE[:TAG] [AS NAME]), not %q", strings.Join(in.args, " "))}
			}
			cur = &stage{line: in.line}
			if len(in.args) > 0 {
				cur.from = in.args[0]
				cur.fromStage = names[strings.ToLower(cur.from)]
			}
			if len(in.args) >= 3 && strings.EqualFold(in.args[1], "as") {
				cur.name = in.args[2]
				names[strings.ToLower(cur.name)] = true
			}
			df.stages = append(df.stages, cur)
			continue
		}
		if cur == nil {
			if in.cmd == "arg" {
				df.args = append(df.args, in)
			}
			continue
		}
		cur.insts = append(cur.insts, in)
	}
	if len(df.stages) == 0 {
		return nil, &LoadError{File: name, Err: "no FROM instruction: not a Dockerfile"}
	}
	return &Object{File: name, Line: 1, Kind: "Dockerfile", Name: name, dockerfile: df}, nil
}

// final is the stage that becomes the image.
func (d *dockerfile) final() *stage { return d.stages[len(d.stages)-1] }

// parentStage is the earlier stage s is built FROM, or nil.
func (d *dockerfile) parentStage(s *stage) *stage {
	if !s.fromStage {
		return nil
	}
	for _, p := range d.stages {
		if p == s {
			return nil // only stages before s can be its base
		}
		if strings.EqualFold(p.name, s.from) {
			return p
		}
	}
	return nil
}
