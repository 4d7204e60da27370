// Command checkdocs writes docs/checks.md from the check registry.
package main

import (
	"fmt"
	"os"

	"bulwark.dev/bulwark/internal/checks"
)

func main() {
	if err := checks.WriteDocs(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "checkdocs:", err)
		os.Exit(1)
	}
}
