package dockerbench

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteChecksTable writes the table of every entry of the benchmark,
// what bulwark does with it and, for a manual check, why: the list in
// docs/cis-docker.md (TestDocsTable keeps it current).
func WriteChecksTable(w io.Writer, cat *Catalog) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "| ID | Check | bulwark |")
	fmt.Fprintln(bw, "|---|---|---|")
	for _, e := range cat.Entries {
		what := Kind(e.ID)
		switch what {
		case "section":
			fmt.Fprintf(bw, "| **%s** | **%s** | |\n", e.ID, cell(e.Desc))
			continue
		case "manual":
			what = "manual (NOTE/INFO): " + ManualReason(e.ID)
		case "example":
			what = "docker-bench-security's sample check (architecture); only with `--check all` or `community`"
		}
		if strings.HasPrefix(e.ID, "8.") {
			what += " Skipped on a Community Engine, as docker-bench-security does."
		}
		fmt.Fprintf(bw, "| %s | %s | %s |\n", e.ID, cell(e.Desc), cell(what))
	}
	return bw.Flush()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
