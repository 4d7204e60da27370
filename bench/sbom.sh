#!/usr/bin/env bash
# Times `bulwark sbom` against syft and trivy on the Debian bookworm image
# (docker-archive), cold and warm cache, plus the floor: reading the layer
# with `gzip -dc | tar -t`. Whole-process wall time, CPU time (user+sys)
# and peak memory from /usr/bin/time -v; medians over RUNS runs.
#
#   bash bench/sbom.sh [IMAGE_DIR]    (default: the test cache's image)
#
# Peers are built once into PEERS_DIR, keyed by version.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
PEERS_DIR=${PEERS_DIR:-/var/cache/bulwark-peers}
SYFT_VERSION=v1.57.1
TRIVY_VERSION=v0.74.0
IMG_DIR=${1:-${BULWARK_DEBIAN_IMAGE:-${BULWARK_TEST_CACHE:-$HOME/.cache/bulwark-test}/debian-bookworm}}
ARCHIVE=$IMG_DIR/image.docker.tar
[ -f "$ARCHIVE" ] || { echo "no image at $ARCHIVE: run the tests once (they build it) or pass IMAGE_DIR" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install -y time" >&2; exit 2; }

SYFT=$PEERS_DIR/syft-$SYFT_VERSION/syft
TRIVY=$PEERS_DIR/trivy-$TRIVY_VERSION/trivy
[ -x "$SYFT" ] || GOBIN=$(dirname "$SYFT") go install github.com/anchore/syft/cmd/syft@$SYFT_VERSION
[ -x "$TRIVY" ] || GOEXPERIMENT=jsonv2 GOBIN=$(dirname "$TRIVY") go install github.com/aquasecurity/trivy/cmd/trivy@$TRIVY_VERSION

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$OUT/bulwark" ./cmd/bulwark

# The one layer blob of the image, for the floor.
LAYER=$(python3 -c "import json,sys; print(json.load(open('$IMG_DIR/oci/index.json'))['manifests'][0]['digest'].split(':')[1])")
LAYER=$(python3 -c "import json; m=json.load(open('$IMG_DIR/oci/blobs/sha256/$LAYER')); print(m['layers'][0]['digest'].split(':')[1])")
LAYER=$IMG_DIR/oci/blobs/sha256/$LAYER

# measure NAME SETUP_CMD CMD...: runs SETUP (untimed) then CMD, RUNS times.
measure() {
  local name=$1 setup=$2; shift 2
  for i in $(seq "$RUNS"); do
    eval "$setup"
    /usr/bin/time -v -o "$OUT/t" "$@" >/dev/null 2>"$OUT/err" || { echo "$name failed:"; cat "$OUT/err"; exit 1; }
    awk -v n="$name" -F': ' '
      /Elapsed \(wall clock\)/ { split($2, a, ":"); w = (length(a)==3) ? a[1]*3600+a[2]*60+a[3] : a[1]*60+a[2] }
      /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
      END { printf "%s\t%.3f\t%.3f\t%.1f\n", n, w, u+s, m/1024 }' "$OUT/t" >> "$OUT/raw.tsv"
  done
}

export SYFT_CHECK_FOR_APP_UPDATE=false
measure floor ":" bash -c "gzip -dc '$LAYER' | tar -t > /dev/null"
measure bulwark-cold "rm -rf $OUT/bc" "$OUT/bulwark" sbom --cache-dir "$OUT/bc" --format cyclonedx "docker-archive:$ARCHIVE"
"$OUT/bulwark" sbom --cache-dir "$OUT/bw" --format cyclonedx "docker-archive:$ARCHIVE" >/dev/null
measure bulwark-warm ":" "$OUT/bulwark" sbom --cache-dir "$OUT/bw" --format cyclonedx "docker-archive:$ARCHIVE"
measure syft ":" "$SYFT" "docker-archive:$ARCHIVE" -o cyclonedx-json -q
TRIVY_FLAGS=(--format cyclonedx --skip-db-update --skip-java-db-update --offline-scan --disable-telemetry --skip-version-check -q)
measure trivy-cold "rm -rf $OUT/tc" "$TRIVY" image --cache-dir "$OUT/tc" --input "$ARCHIVE" "${TRIVY_FLAGS[@]}"
"$TRIVY" image --cache-dir "$OUT/tw" --input "$ARCHIVE" "${TRIVY_FLAGS[@]}" >/dev/null 2>&1
measure trivy-warm ":" "$TRIVY" image --cache-dir "$OUT/tw" --input "$ARCHIVE" "${TRIVY_FLAGS[@]}"

python3 - "$OUT/raw.tsv" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, w, c, m = line.split("\t")
    rows[n].append((float(w), float(c), float(m)))
med = {n: tuple(statistics.median(x[i] for x in v) for i in range(3)) for n, v in rows.items()}
print(f"{'tool':14} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}   (medians of {len(next(iter(rows.values())))} runs)")
for n, (w, c, m) in med.items():
    print(f"{n:14} {w:8.3f} {c:8.3f} {m:9.1f}")
b, t, s, f = med["bulwark-cold"], med["trivy-cold"], med["syft"], med["floor"]
print()
print(f"cold CPU:  bulwark/trivy = {b[1]/t[1]:.2f}  bulwark/syft = {b[1]/s[1]:.2f}  bulwark/floor = {b[1]/f[1]:.2f}")
print(f"cold wall: bulwark/trivy = {b[0]/t[0]:.2f}  bulwark/syft = {b[0]/s[0]:.2f}")
print(f"peak mem:  bulwark/trivy = {b[2]/t[2]:.2f}  bulwark/syft = {b[2]/s[2]:.2f}")
bw, tw = med["bulwark-warm"], med["trivy-warm"]
print(f"warm wall: bulwark/trivy = {bw[0]/tw[0]:.2f}  (bulwark {bw[0]:.3f} s, trivy {tw[0]:.3f} s)")
PY
