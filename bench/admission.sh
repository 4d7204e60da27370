#!/usr/bin/env bash
# Load on the admission webhook (bulwark admission serve over HTTPS, a
# policy that requires a signature, a signed image in a registry on
# 127.0.0.1): p50/p99 latency at 100 and 500 concurrent senders paced to
# 500 requests/s, and unpaced throughput, with cached decisions (what a
# cluster sees in steady state). The first, uncached decision, which
# resolves the tag and verifies the signature, is measured by
# go test -bench FirstDecision ./internal/admission.
#
#   bash bench/admission.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
W=$(mktemp -d)
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark
go build -o "$W/testregistry" ./tools/testregistry
go build -o "$W/admissionload" ./tools/admissionload
"$W/testregistry" > "$W/ref" &
REG=$!
PIDS=$REG
trap 'kill $PIDS 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 50); do [ -s "$W/ref" ] && break; sleep 0.1; done
REF=$(cat "$W/ref")
cd "$W"
export BULWARK_PASSWORD=bench HOME=$W
./bulwark key generate --output-prefix bw >/dev/null
./bulwark sign "$REF" --key bw.key >/dev/null
REPO=${REF%:*}; REPO=${REPO%@*}
cat > policy.yaml <<YAML
rules:
  - pattern: "${REPO}"
    keys: [bw.pub]
YAML
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./bulwark admission serve --policy policy.yaml --tls-generate "$W" --addr 127.0.0.1:$PORT 2>serve.log &
PIDS="$PIDS $!"
for _ in $(seq 100); do curl -skf https://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
python3 - "$REF" > review.json <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
       "spec": {"automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "app", "image": sys.argv[1],
                                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                                "resources": {"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}}]}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "x", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "resource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": "shop", "operation": "CREATE", "userInfo": {"username": "bench"}, "object": pod}}, indent=2))
PY
load() { ./admissionload -url https://127.0.0.1:$PORT/admission/validate -ca "$W/tls/ca.crt" -review review.json -duration "$DURATION" "$@"; }
load -clients 10 -duration 2s >/dev/null # warm: the first decision verifies the signature
echo "validate, 100 senders at 500/s: $(load -clients 100 -rate 500)"
echo "validate, 500 senders at 500/s: $(load -clients 500 -rate 500)"
echo "validate, 100 senders unpaced:  $(load -clients 100)"
echo "mutate,   100 senders at 500/s: $(./admissionload -url https://127.0.0.1:$PORT/admission/mutate -ca "$W/tls/ca.crt" -review review.json -duration "$DURATION" -clients 100 -rate 500)"
