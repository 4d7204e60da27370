#!/usr/bin/env bash
# The same pods judged by bulwark's hardening checks (the engine the
# admission webhook runs) and by the Kyverno CLI with an equivalent
# policy (no privileged containers, no privilege escalation, non-root,
# no host namespaces): CPU and wall time of one run over N pods, medians
# of RUNS runs. Kyverno is built from the module proxy (PEERS.md) and
# cached by version.
#
#   bash bench/kyverno.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR=${PEERS_DIR:-/var/cache/bulwark-peers}
RUNS=${RUNS:-10}
N=${N:-500}
KYVERNO=$PEERS_DIR/kyverno-v1.19.1/kyverno
if [ ! -x "$KYVERNO" ]; then
  src=$(GOFLAGS=-mod=mod go mod download -json github.com/kyverno/kyverno@v1.19.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  b=$(mktemp -d); cp -r "$src/." "$b"; chmod -R u+w "$b"
  (cd "$b" && GOFLAGS=-mod=mod go build -o "$KYVERNO" ./cmd/cli/kubectl-kyverno)
  rm -rf "$b"
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark
python3 - "$N" > "$W/pods.yaml" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    if i % 2:
        sc = "{runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false}"
        host = "false"
    else:
        sc = "{privileged: true}"
        host = "true"
    print(f"""---
apiVersion: v1
kind: Pod
metadata: {{name: p{i}, namespace: shop}}
spec:
  hostPID: {host}
  containers:
  - name: app
    image: registry.example.com/shop/app:v1
    securityContext: {sc}""")
PY
cat > "$W/policy.yaml" <<'YAML'
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: hardening}
spec:
  validationFailureAction: Enforce
  background: false
  rules:
  - name: privileged
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: privileged containers are not allowed
      pattern: {spec: {containers: [{"=(securityContext)": {"=(privileged)": "false"}}]}}
  - name: privilege-escalation
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: allowPrivilegeEscalation must be false
      pattern: {spec: {containers: [{securityContext: {allowPrivilegeEscalation: "false"}}]}}
  - name: non-root
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: runAsNonRoot must be true
      pattern: {spec: {containers: [{securityContext: {runAsNonRoot: "true"}}]}}
  - name: host-namespaces
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: host namespaces are not allowed
      pattern: {spec: {"=(hostPID)": "false", "=(hostIPC)": "false", "=(hostNetwork)": "false"}}
YAML
cd "$W"
measure() { # name cmd...
  local name=$1; shift
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o t "$@" >out 2>&1 || true
    read -r wall user sys mem < <(tail -n 1 t)
    echo "$name $wall $(echo "$user + $sys" | bc) $mem" >> raw
  done
}
measure bulwark ./bulwark check pods.yaml --format json
grep -c '"status": "fail"' out > bulwark.fails || true
measure kyverno "$KYVERNO" apply policy.yaml --resource pods.yaml
grep -E "pass: |fail: " out | head -2 > kyverno.summary || true
echo "bulwark failures reported: $(cat bulwark.fails); kyverno: $(tr '\n' ' ' < kyverno.summary)"
python3 - "$N" <<'PY'
import statistics, collections, sys
rows = collections.defaultdict(list)
for line in open("raw"):
    n, wall, cpu, mem = line.split()
    rows[n].append((float(wall), float(cpu), int(mem)))
med = {n: tuple(statistics.median(x[i] for x in v) for i in range(3)) for n, v in rows.items()}
print(f"{sys.argv[1]} pods; {'run':8} {'wall s':>7} {'cpu s':>7} {'MiB':>6}")
for n, (w, c, m) in med.items():
    print(f"{'':9}{n:8} {w:7.3f} {c:7.3f} {m/1024:6.0f}")
b, k = med["bulwark"], med["kyverno"]
print(f"bulwark/kyverno: wall {b[0]/k[0]:.2f}, cpu {b[1]/k[1]:.2f}, memory {b[2]/k[2]:.2f}")
PY
