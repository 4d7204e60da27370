#!/usr/bin/env bash
# Times `bulwark check` against kube-score and `trivy config` on the
# corpus's real manifests (kubernetes/examples and Online Boutique,
# replicated to N files, 10,000 by default), whole-process CPU time
# (user+sys), wall time and peak memory from /usr/bin/time, medians over
# RUNS runs. trivy's Rego engine is too slow for 10,000 files in a
# reasonable time, so it runs on the original set and its cost is scaled
# per manifest (reported as such). kube-linter is not served by the Go
# module proxy here and is left out.
#
#   bash bench/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${BULWARK_CORPUS:-$(pwd)/../shared/corpus}
PEERS_DIR=${PEERS_DIR:-/var/cache/bulwark-peers}
N=${N:-10000}
RUNS=${RUNS:-5}
KUBESCORE=$PEERS_DIR/kube-score-v1.20.0/kube-score
TRIVY=$PEERS_DIR/trivy-v0.74.0/trivy
[ -x "$KUBESCORE" ] || GOBIN=$(dirname "$KUBESCORE") go install github.com/zegl/kube-score/cmd/kube-score@v1.20.0
[ -x "$TRIVY" ] || GOEXPERIMENT=jsonv2 GOBIN=$(dirname "$TRIVY") go install github.com/aquasecurity/trivy/cmd/trivy@v0.74.0

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark

# The original set: manifests kube-score can parse (it stops the whole
# run at the first file it cannot read).
mkdir -p "$W/orig" "$W/big"
i=0
while IFS= read -r f; do
  "$KUBESCORE" score "$f" </dev/null >/dev/null 2>"$W/err" || true
  if grep -q "Failed to score" "$W/err"; then continue; fi
  i=$((i+1)); cp "$f" "$W/orig/$i.yaml"
done < <(find "$CORPUS/k8s/kubernetes-examples" "$CORPUS/k8s/microservices-demo" \( -name '*.yaml' -o -name '*.yml' \) | sort)
ORIG=$i
for ((k=0; k<N; k++)); do cp "$W/orig/$((k % ORIG + 1)).yaml" "$W/big/$k.yaml"; done

measure() { # name cmd...
  local name=$1; shift
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o "$W/t" "$@" >/dev/null 2>&1 || true
    # time(1) prefixes "Command exited with non-zero status N" when the
    # tool reports findings through its exit code: keep the last line.
    read -r wall user sys mem < <(tail -n 1 "$W/t")
    echo "$name $wall $(echo "$user + $sys" | bc) $mem" >> "$W/raw"
  done
}
measure bulwark-$N "$W/bulwark" check --format json "$W/big"
measure kube-score-$N "$KUBESCORE" score --output-format json "$W"/big/*.yaml
measure bulwark-$ORIG "$W/bulwark" check --format json "$W/orig"
measure kube-score-$ORIG "$KUBESCORE" score --output-format json "$W"/orig/*.yaml
RUNS=1 measure trivy-$ORIG "$TRIVY" config --skip-check-update --quiet --format json "$W/orig"
# Results bulwark records (passes and failures) on the big set.
"$W/bulwark" check --format json "$W/big" > "$W/bw.json" 2>/dev/null || true

python3 - "$W" "$N" "$ORIG" <<'PY'
import sys, json, statistics, collections
w, n, orig = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = collections.defaultdict(list)
for line in open(f"{w}/raw"):
    name, wall, cpu, mem = line.split()
    rows[name].append((float(wall), float(cpu), int(mem) / 1024))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print(f"{'run':22} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
for k, (wall, cpu, mem) in med.items():
    print(f"{k:22} {wall:8.2f} {cpu:8.2f} {mem:9.1f}")
s = json.load(open(f"{w}/bw.json"))["summary"]
print(f"\nbulwark on {n} files: {s['objects']} objects, {s['passed']} passes + {s['failed']} failures recorded")
b, k = med[f"bulwark-{n}"], med[f"kube-score-{n}"]
print(f"CPU bulwark/kube-score ({n} files): {b[1]/k[1]:.2f}; memory {b[2]/k[2]:.2f}")
bo, t = med[f"bulwark-{orig}"], med[f"trivy-{orig}"]
print(f"CPU bulwark/trivy config ({orig} files): {bo[1]/t[1]:.3f}")
print(f"trivy config per manifest: {t[1]/orig*1000:.1f} ms CPU; bulwark: {b[1]/n*1000:.3f} ms CPU")
PY
