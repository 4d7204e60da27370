#!/usr/bin/env bash
# Load: CLIENTS concurrent clients (default 50) each push a small random
# image and pull it back, for DURATION seconds (default 20), against the CNCF
# distribution registry v3.1.2 (filesystem storage, no authentication)
# and against `bulwark serve` (SQLite, Basic credentials on every request,
# the pull gate evaluated on every manifest GET, every action audited),
# both on this machine's disk. Prints rounds per second and manifest GET
# latency percentiles for each, and the throughput ratio.
#
#   bash bench/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR=${PEERS_DIR:-/var/cache/bulwark-peers}
CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-20}
REGISTRY=$PEERS_DIR/distribution-v3.1.2/registry
[ -x "$REGISTRY" ] || GOBIN=$(dirname "$REGISTRY") go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2

W=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$W"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark
go build -o "$W/loadgen" ./tools/loadgen
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 300); do curl -s -o /dev/null "http://$1/v2/" && return; sleep 0.1; done; echo "$1 not ready" >&2; tail -5 "$W"/bulwark.log >&2; exit 1; }

P1=$(port)
cat > "$W/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $W/distribution}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$P1}
YAML
OTEL_TRACES_EXPORTER=none "$REGISTRY" serve "$W/registry.yml" 2>"$W/registry.log" & pids+=($!)
ready "127.0.0.1:$P1"
echo "distribution v3.1.2:"
"$W/loadgen" -registry "127.0.0.1:$P1" -clients "$CLIENTS" -duration "${DURATION}s" | tee "$W/distribution.json"

P2=$(port)
printf 'pullPolicy:\n  blockSeverity: critical\n  unscanned: allow\n' > "$W/config.yaml"
BULWARK_ADMIN_PASSWORD=bench-password "$W/bulwark" serve --addr "127.0.0.1:$P2" --data "$W/bulwark-data" \
  --config "$W/config.yaml" --db "$W/none.db" 2>"$W/bulwark.log" & pids+=($!)
ready "127.0.0.1:$P2"
echo "bulwark serve:"
"$W/loadgen" -registry "127.0.0.1:$P2" -user admin -password bench-password -clients "$CLIENTS" -duration "${DURATION}s" | tee "$W/bulwark.json"

python3 - "$W/distribution.json" "$W/bulwark.json" <<'PY'
import json, sys
d, b = (json.load(open(p)) for p in sys.argv[1:3])
print(f"throughput: bulwark {b['rounds_per_second']:.1f} rounds/s, distribution {d['rounds_per_second']:.1f} rounds/s, ratio {b['rounds_per_second']/d['rounds_per_second']:.2f}")
print(f"manifest GET p99: bulwark {b['manifest_get_ms']['p99']} ms, distribution {d['manifest_get_ms']['p99']} ms")
PY
