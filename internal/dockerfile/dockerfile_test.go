package dockerfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

func TestBases(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		args map[string]string
		want []Base
	}{
		{"plain", "FROM alpine:3.20\nRUN true\n", nil, []Base{{Stage: 0, Ref: "alpine:3.20", Line: 1}}},
		{"default", "ARG BASE=debian:12\nFROM ${BASE}\n", nil, []Base{{Ref: "debian:12", Line: 2}}},
		{"build arg overrides the default", "ARG BASE=debian:12\nFROM $BASE\n", map[string]string{"BASE": "debian:13"}, []Base{{Ref: "debian:13", Line: 2}}},
		{"a default uses an earlier argument", "ARG V=3.20\nARG IMG=alpine:${V}\nFROM ${IMG}\n", nil, []Base{{Ref: "alpine:3.20", Line: 3}}},
		{"shell default syntax", "ARG TAG\nFROM nginx:${TAG:-1.27}\n", nil, []Base{{Ref: "nginx:1.27", Line: 2}}},
		{"unset argument is unresolved", "ARG REGISTRY\nFROM ${REGISTRY}/app:1\n", nil, []Base{{Ref: "/app:1", Line: 2, Unresolved: []string{"REGISTRY"}}}},
		{"an undeclared argument is unresolved", "FROM app:${TAG}\n", map[string]string{"OTHER": "x"}, []Base{{Ref: "app:", Line: 1, Unresolved: []string{"TAG"}}}},
		{"an ARG after FROM does not reach FROM", "FROM alpine\nARG IMG=debian\nFROM ${IMG}\n", nil, []Base{{Ref: "alpine", Line: 1}, {Stage: 1, Ref: "", Line: 3, Unresolved: []string{"IMG"}}}},
		{"stages and scratch are not bases", "FROM golang:1.26 AS build\nFROM build AS test\nFROM scratch\nCOPY --from=build /x /x\n", nil, []Base{{Ref: "golang:1.26", Line: 1}}},
		{"a stage named through an argument", "ARG B=builder\nFROM golang:1.26 AS builder\nFROM ${B}\n", nil, []Base{{Ref: "golang:1.26", Line: 2}}},
		{"platform arguments", "FROM --platform=$BUILDPLATFORM golang:1.26-${TARGETOS}\n", nil, []Base{{Ref: "golang:1.26-linux", Line: 1}}},
		{"platform arguments given", "FROM img-${TARGETARCH}\n", map[string]string{"TARGETARCH": "arm64"}, []Base{{Ref: "img-arm64", Line: 1}}},
		{"digest pinned", "FROM alpine@sha256:0123456789012345678901234567890123456789012345678901234567890123\n", nil, []Base{{Ref: "alpine@sha256:0123456789012345678901234567890123456789012345678901234567890123", Line: 1}}},
		{"escape directive", "# escape=`\nARG B=alpine\nFROM ${B}\n", nil, []Base{{Ref: "alpine", Line: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.Bases(tc.args)); diff != "" {
				t.Errorf("Bases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseModel(t *testing.T) {
	f, err := Parse([]byte("ARG V=1\nFROM --platform=linux/arm64 golang:1.26 AS build\nRUN go build \\\n  ./...\nFROM alpine AS final\nCOPY --from=build /app /app\nUSER 10001\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Stages) != 2 || len(f.Args) != 1 {
		t.Fatalf("%d stages, %d args", len(f.Stages), len(f.Args))
	}
	b := f.Stages[0]
	if b.Name != "build" || b.Platform != "linux/arm64" || b.From != "golang:1.26" || b.Line != 2 {
		t.Errorf("stage 0 = %+v", b)
	}
	run := b.Instructions[0]
	if run.Cmd != "run" || run.Line != 3 || !strings.Contains(run.Original, "./...") {
		t.Errorf("RUN = %+v", run)
	}
	if fin := f.Final(); fin.Name != "final" || f.ParentStage(fin) != nil {
		t.Errorf("final stage = %+v", fin)
	}
	if f.Final().Instructions[0].Flags[0] != "--from=build" {
		t.Errorf("COPY flags = %v", f.Final().Instructions[0].Flags)
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		"RUN true\n":               "no FROM instruction",
		"FROM\n":                   "FROM takes an image",
		"FROM a b\n":               "FROM takes an image",
		"FROM alpine AS x extra\n": "FROM takes an image",
	} {
		_, err := Parse([]byte(src))
		var de *Error
		if !errors.As(err, &de) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an *Error containing %q", src, err, want)
		}
	}
}

// TestCorpus: every Dockerfile of the corpus parses, and each base
// image is either fully resolved or names what is missing.
func TestCorpus(t *testing.T) {
	root := filepath.Join(testenv.Corpus(t), "dockerfiles")
	n, bases, resolvedArgs := 0, 0, 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(strings.ToLower(d.Name()), "dockerfile") || strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(b)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Errorf("%s: %v is not an *Error", p, err)
			}
			return nil
		}
		n++
		for _, base := range f.Bases(nil) {
			bases++
			if strings.Contains(f.Stages[base.Stage].From, "$") && len(base.Unresolved) == 0 {
				resolvedArgs++
			}
			if strings.Contains(base.Ref, "$") {
				t.Errorf("%s:%d: base %q still holds a variable", p, base.Line, base.Ref)
			}
		}
		return nil
	})
	if n < 150 {
		t.Fatalf("parsed only %d corpus Dockerfiles", n)
	}
	if resolvedArgs == 0 {
		t.Fatal("no FROM line of the corpus was resolved through an ARG")
	}
	t.Logf("%d Dockerfiles, %d base images, %d resolved through build arguments", n, bases, resolvedArgs)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ARG B=alpine\nFROM ${B:-x} AS a\nRUN echo\nFROM a\n"))
	f.Add([]byte("# escape=`\nFROM `\n"))
	f.Add([]byte("FROM ${A:?err}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		df, err := Parse(b)
		if err != nil {
			return
		}
		if df.Final() == nil {
			t.Fatal("no final stage")
		}
		for _, s := range df.Stages {
			df.ParentStage(s)
		}
		df.Bases(map[string]string{"A": "x"})
	})
}
