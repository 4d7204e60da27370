#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each. A crash fails
# the run: Go writes its input under testdata/fuzz/<target>/ and says
# "Failing input written to". The Go fuzzing engine also exits non-zero
# with a bare "context deadline exceeded" when -fuzztime expires while a
# worker is mid-input (golang/go#51484) and no input is written; that
# known engine flake is reported and does not fail the run. Any other
# non-zero exit still does.
set -euo pipefail
FUZZTIME=${FUZZTIME:-5s}
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $($GO list ./...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //'); do
    echo "fuzz $pkg $f"
    if $GO test -run='^$' -fuzz="^$f\$" -fuzztime="$FUZZTIME" -parallel=1 "$pkg" >"$log" 2>&1; then
      continue
    fi
    if grep -q "Failing input written to" "$log" || ! grep -q "context deadline exceeded" "$log"; then
      cat "$log"
      exit 1
    fi
    echo "  (fuzzing engine deadline flake, golang/go#51484: no failing input was found)"
  done
done
