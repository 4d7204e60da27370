#!/usr/bin/env bash
# Times signing and verification with bulwark against cosign v2.6.5 on the
# same image in a registry on 127.0.0.1 (tools/testregistry), both with
# encrypted keys and no transparency log: wall time, CPU (user+sys) and
# peak memory from /usr/bin/time, medians over RUNS runs.
#
#   bash bench/sign.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR=${PEERS_DIR:-/var/cache/bulwark-peers}
RUNS=${RUNS:-20}
COSIGN=${BULWARK_COSIGN:-$PEERS_DIR/cosign-v2.6.5/cosign}
[ -x "$COSIGN" ] || GOBIN=$(dirname "$COSIGN") go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5

W=$(mktemp -d)
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark
go build -o "$W/testregistry" ./tools/testregistry
"$W/testregistry" > "$W/ref" &
REG=$!
trap 'kill $REG 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 50); do [ -s "$W/ref" ] && break; sleep 0.1; done
REF=$(cat "$W/ref")
cd "$W"
export BULWARK_PASSWORD=bench COSIGN_PASSWORD=bench HOME=$W
./bulwark key generate --output-prefix bw >/dev/null
"$COSIGN" generate-key-pair >/dev/null 2>&1
./bulwark sign "$REF" --key bw.key >/dev/null
"$COSIGN" sign --key cosign.key --tlog-upload=false --allow-http-registry --yes "$REF" >/dev/null 2>&1

measure() { # name cmd...
  local name=$1; shift
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o t "$@" >/dev/null 2>&1 || { echo "$name failed" >&2; "$@"; exit 1; }
    read -r wall user sys mem < <(tail -n 1 t)
    echo "$name $wall $(echo "$user + $sys" | bc) $mem" >> raw
  done
}
measure bulwark-verify ./bulwark verify "$REF" --key bw.pub
measure cosign-verify "$COSIGN" verify --key cosign.pub --insecure-ignore-tlog=true --offline=true --allow-http-registry "$REF"
measure bulwark-sign ./bulwark sign "$REF" --key bw.key --store tag
measure cosign-sign "$COSIGN" sign --key cosign.key --tlog-upload=false --allow-http-registry --yes "$REF"

python3 - <<'PY'
import statistics, collections
rows = collections.defaultdict(list)
for line in open("raw"):
    n, wall, cpu, mem = line.split()
    rows[n].append((float(wall), float(cpu), int(mem)))
med = {n: tuple(statistics.median(x[i] for x in v) for i in range(3)) for n, v in rows.items()}
print(f"{'run':16} {'wall s':>7} {'cpu s':>7} {'MiB':>6}")
for n, (w, c, m) in med.items():
    print(f"{n:16} {w:7.3f} {c:7.3f} {m/1024:6.0f}")
for op in ("verify", "sign"):
    b, c = med[f"bulwark-{op}"], med[f"cosign-{op}"]
    cpu = f"{b[1]/c[1]:.2f}" if b[1] > 0 and c[1] > 0 else "n/a (below time(1)'s 10 ms resolution)"
    print(f"{op}: bulwark/cosign wall {b[0]/c[0]:.2f}, cpu {cpu}, memory {b[2]/c[2]:.2f}")
PY
