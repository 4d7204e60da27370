package audit

import (
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestActionsAreDocumented: the actions a SIEM rule can match are
// exactly those docs/audit.md lists, each once.
func TestActionsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	// The first column of the table of actions.
	row := regexp.MustCompile("(?m)^\\| (`[a-z._]+`(?:, `[a-z._]+`)*) \\|")
	name := regexp.MustCompile("`([a-z._]+)`")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, n[1])
		}
	}
	var code []string
	seen := map[string]bool{}
	for _, a := range Actions {
		if seen[a.String()] {
			t.Errorf("action %s is listed twice", a)
		}
		seen[a.String()] = true
		code = append(code, a.String())
	}
	sort.Strings(documented)
	sort.Strings(code)
	if diff := cmp.Diff(documented, code); diff != "" {
		t.Errorf("docs/audit.md actions (-) differ from audit.Actions (+):\n%s", diff)
	}
}
