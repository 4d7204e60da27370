package checks

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteDocs renders the reference of every check as Markdown; the test
// suite keeps docs/checks.md equal to it.
func WriteDocs(w io.Writer) error {
	all, err := All()
	if err != nil {
		return err
	}
	fmt.Fprint(w, `# Checks

Generated from the check registry (`+"`go run ./tools/checkdocs > docs/checks.md`"+`);
a test fails when this page and the code disagree. IDs are stable and
never reused. Framework references come from
`+"`internal/checks/frameworks/*.yaml`"+`, one file per framework.

| ID | target | severity | title |
|---|---|---|---|
`)
	for _, c := range all {
		fmt.Fprintf(w, "| [%s](#%s) | %s | %s | %s |\n", c.ID, strings.ToLower(c.ID), c.Target, c.Severity, c.Title)
	}
	for _, c := range all {
		fmt.Fprintf(w, "\n## %s\n\n**%s** — %s, %s.\n\n%s\n\n**Fix:** %s\n", c.ID, c.Title, c.Severity, c.Target, c.Description, c.Remediation)
		if len(c.References) > 0 {
			var keys []string
			for k := range c.References {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintln(w, "\n**References:**")
			fmt.Fprintln(w)
			for _, k := range keys {
				fmt.Fprintf(w, "- %s: %s\n", k, strings.Join(c.References[k], ", "))
			}
		}
		lang := "yaml"
		switch c.Target {
		case TargetDockerfile:
			lang = "dockerfile"
		case TargetDocker, TargetImage:
			lang = "json"
		}
		fmt.Fprintf(w, "\n<details><summary>Failing example</summary>\n\n```%s\n%s```\n\n</details>\n", lang, c.Bad)
	}
	return nil
}
