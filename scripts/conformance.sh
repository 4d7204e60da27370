#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite against `bulwark serve`,
# authentication on,
# with every optional API and data type switched on but one, and fails
# unless every test passes (none failed, none skipped). The one left off
# is sparse image manifests (layers never pushed): bulwark refuses a
# manifest whose blobs it does not hold, since it scans what it serves
# (sparse indexes, whose platforms may be missing, are accepted).
#   CONFORMANCE  the suite's binary; by default it is built once per
#                version into $BULWARK_TOOLS (/var/cache/bulwark-peers)
#   DATABASE     optional PostgreSQL URL for the server's store
#   S3=1         store blobs in an S3 bucket (tools/fakes3 serves one)
set -euo pipefail
version=v0.0.0-20260831232431-97274622c111
if [ -z "${CONFORMANCE:-}" ]; then
  dir=${BULWARK_TOOLS:-/var/cache/bulwark-peers}/oci-conformance-$version
  [ -x "$dir/conformance" ] || GOBIN=$dir go install github.com/opencontainers/distribution-spec/conformance@$version
  CONFORMANCE=$dir/conformance
fi
work=$(mktemp -d)
s3pid=
cleanup_db=true
trap 'kill $pid $s3pid 2>/dev/null || true; wait $pid 2>/dev/null || true; eval "$cleanup_db" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
go build -o "$work/bulwark" ./cmd/bulwark
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The suite measures the distribution API, not the pull gate: its images
# are random bytes, so serve them unscanned.
printf 'pullPolicy:\n  blockSeverity: none\n  unscanned: allow\n' >"$work/config.yaml"
args=(serve --addr "127.0.0.1:$port" --data "$work/data" --config "$work/config.yaml" --db "$work/none.db")
if [ -n "${DATABASE:-}" ]; then
  # A fresh schema per run: the first start's admin password must be ours.
  schema=conformance_$$_$RANDOM
  psql -q "$DATABASE" -c "CREATE SCHEMA $schema"
  cleanup_db="psql -q '$DATABASE' -c 'DROP SCHEMA $schema CASCADE'"
  sep='?'; case "$DATABASE" in *\?*) sep='&';; esac
  args+=(--database "$DATABASE${sep}search_path=$schema")
fi
if [ -n "${S3:-}" ]; then
  go build -o "$work/fakes3" ./tools/fakes3
  "$work/fakes3" >"$work/s3addr" & s3pid=$!
  for _ in $(seq 50); do [ -s "$work/s3addr" ] && break; sleep 0.1; done
  args+=(--blobs "s3://$(cat "$work/s3addr")/registry/bulwark?tls=false&region=us-east-1")
  export AWS_ACCESS_KEY_ID=conformance AWS_SECRET_ACCESS_KEY=conformance
fi
# Authentication on: the suite logs in as the administrator.
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
BULWARK_ADMIN_PASSWORD=$password "$work/bulwark" "${args[@]}" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
mkdir -p "$work/results"
set +e
OCI_USERNAME=admin OCI_PASSWORD=$password OCI_REGISTRY=127.0.0.1:$port OCI_TLS=disabled OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
OCI_RESULTS_DIR="$work/results" OCI_HIDE_SKIPPED_WORKFLOWS=false \
OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_MANIFESTS_TAG_PARAM=true \
OCI_DATA_SPARSE=false \
  "$CONFORMANCE" >"$work/out.txt" 2>&1
rc=$?
set -e
summary=$(grep -o '<testsuite [^>]*>' "$work/results/junit.xml" | head -1)
echo "conformance: $summary"
if [ $rc -ne 0 ] || ! grep -q 'failures="0"' <<<"$summary" || grep -q 'skipped="[1-9]' <<<"$summary"; then
  grep -E 'FAIL|Skip' "$work/out.txt" | head -40 || true
  echo "--- server log"; tail -20 "$work/serve.log"
  exit 1
fi
