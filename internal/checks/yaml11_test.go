package checks

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestFastYAMLPathAgrees: on every document of the corpus's manifests and
// compose files, and on YAML 1.1 edge cases, the fast conversion gives
// exactly what kubectl's YAMLToJSON and the API server's decoder give
// (or defers to them).
func TestFastYAMLPathAgrees(t *testing.T) {
	var docs [][]byte
	for _, dir := range []string{"k8s", "compose"} {
		filepath.WalkDir(testenv.CorpusPath(t, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || kindOfFile(p) != "yaml" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, doc := range splitDocuments(b) {
				docs = append(docs, doc.body)
			}
			return nil
		})
	}
	docs = append(docs, []byte("a: yes\nb: On\nc: n\nd: ~\ne: 0755\nf: 1_000\ng: 1.0\nh: 1.5\ni: 2026-12-01\nj: 0x1f\nk: \"yes\"\nl: !!str 12\nm: [y, N, off]\nn: 12e3\no: +12\np: -0.0\nq: 1e400\ns: .5\nyes: key\n1: key\n"),
		[]byte("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: [*b]\n"),
		[]byte("a: .inf\nb: .NaN\n"), []byte("r: 9223372036854775808\n"))
	compared := 0
	for _, doc := range docs {
		var n yaml.Node
		if yaml.Unmarshal(doc, &n) != nil || len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue
		}
		want, werr := decodeLikeKubectl(doc)
		got, gerr := valueLikeKubectl(&n)
		if errors.Is(gerr, errSlowPath) {
			continue
		}
		compared++
		if werr != nil {
			t.Errorf("the reference refuses %q (%v), the fast path gives %v", excerpt(doc), werr, got)
			continue
		}
		if diff := cmp.Diff(any(want), got); diff != "" {
			t.Errorf("%q (-reference +fast):\n%s", excerpt(doc), diff)
		}
	}
	if compared < 300 {
		t.Errorf("only %d documents compared", compared)
	}
}

func excerpt(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i > 0 && len(b) > 120 {
		return strings.TrimSpace(string(b[:min(120, len(b))]))
	}
	return string(b)
}
