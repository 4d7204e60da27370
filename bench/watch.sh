#!/usr/bin/env bash
# Runtime agent speed.
#  1. Rule evaluation: bulwark watch --replay of the committed recorded
#     stream (internal/watch/testdata/events.jsonl.gz, 12,644 real events
#     from Debian containers) repeated REPEAT times, with Falco's stable
#     rules (../shared/corpus/runtime/falco) and the built-in ones, on one
#     core (GOMAXPROCS=1): decoding the JSON lines and judging. Then
#     go test -bench Judge: judging alone, the live agent's cost per event.
#  2. Overhead on a busy workload (needs root and a Docker Engine): a
#     shell workload in a Debian container (many execs and file opens,
#     $ROUNDS rounds) timed without the agent and with it (exec and file
#     sources on, Falco's stable rules), and the agent's CPU time and peak
#     memory while it ran.
#  3. The eBPF source's cost per syscall (needs root): dd copying 2 MB
#     one byte at a time (4 million read and write syscalls, none of them
#     reported) with no agent, with the agent's eBPF programs attached
#     (--no-files) and with the agent without them (--no-ebpf).
# Falco itself cannot be built on this machine (no internet for its C++
# dependencies); its maintainers' own figure is 60-70k events/s.
#
#   bash bench/watch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-10}
ROUNDS=${ROUNDS:-200}
CORPUS=${BULWARK_CORPUS:-$(cd ../shared/corpus && pwd)}
RULES=$CORPUS/runtime/falco/falco_rules.yaml
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark

echo "== rule evaluation (one core)"
for _ in $(seq "$REPEAT"); do gzip -dc internal/watch/testdata/events.jsonl.gz; done > "$W/events.jsonl"
GOMAXPROCS=1 "$W/bulwark" watch --replay "$W/events.jsonl" --rules "$RULES" 2>&1 >/dev/null | grep replayed
go test ./internal/watch -run '^$' -bench 'Judge|Replay' -benchtime 3s -cpu 1 | grep -E '^Benchmark'

if [ "$(id -u)" != 0 ] || ! docker info >/dev/null 2>&1; then
  echo "== overhead: skipped (needs root and a Docker Engine)"
  exit 0
fi
echo "== overhead on a busy workload ($ROUNDS rounds)"
IMG=bulwark-test/debian:bookworm-minbase
if ! docker image inspect "$IMG" >/dev/null 2>&1; then
  DEB=${BULWARK_DEBIAN_IMAGE:-${BULWARK_TEST_CACHE:-/var/cache/bulwark-ci/test}/debian-bookworm}
  docker load -i "$DEB/image.docker.tar" >/dev/null
fi
cat > "$W/work.sh" <<'SH'
for i in $(seq "$1"); do
  ls /usr/bin > /dev/null; cat /etc/os-release > /dev/null; grep -c root /etc/passwd > /dev/null
  head -c 100 /usr/share/doc/*/copyright > /dev/null 2>&1
  date > /tmp/out.$i; sort /tmp/out.$i > /dev/null; wc -l /usr/share/common-licenses/* > /dev/null
  dpkg -s bash > /dev/null
done
SH
workload() {
  local start end
  start=$(date +%s.%N)
  docker run --rm -v "$W/work.sh:/work.sh:ro" "$IMG" bash /work.sh "$ROUNDS"
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
workload >/dev/null # warm the page cache
BASE=$(workload)
"$W/bulwark" watch --rules "$RULES" > "$W/alerts.jsonl" 2> "$W/agent.log" &
AGENT=$!
for _ in $(seq 100); do grep -q "rules loaded" "$W/agent.log" && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$AGENT/stat"; }
T0=$(ticks)
WITH=$(workload)
T1=$(ticks)
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$AGENT/status")
kill -INT $AGENT; wait $AGENT || true
HZ=$(getconf CLK_TCK)
printf 'workload without the agent: %.2fs\n' "$BASE"
printf 'workload with the agent:    %.2fs (%+.1f%%)\n' "$WITH" "$(echo "($WITH - $BASE) * 100 / $BASE" | bc -l)"
printf 'agent CPU during it: %.2fs (%.1f%% of one core); peak memory %d MiB; %d alerts\n' \
  "$(echo "($T1 - $T0) / $HZ" | bc -l)" "$(echo "($T1 - $T0) * 100 / $HZ / $WITH" | bc -l)" $((HWM / 1024)) "$(wc -l < "$W/alerts.jsonl")"

echo "== eBPF cost per syscall (4,000,000 syscalls not reported)"
dd1() { /usr/bin/time -f %e dd if=/dev/zero of=/dev/null bs=1 count=2000000 2>&1 | tail -1; }
best() { local b=999; for _ in 1 2 3; do t=$(dd1); b=$(echo "if ($t < $b) $t else $b" | bc); done; echo "$b"; }
NONE=$(best)
"$W/bulwark" watch --no-files > /dev/null 2> "$W/agent.log" &
AGENT=$!
for _ in $(seq 100); do grep -q "rules loaded" "$W/agent.log" && break; sleep 0.1; done
EBPF=$(best)
kill -INT $AGENT; wait $AGENT || true
"$W/bulwark" watch --no-files --no-ebpf > /dev/null 2> "$W/agent.log" &
AGENT=$!
for _ in $(seq 100); do grep -q "rules loaded" "$W/agent.log" && break; sleep 0.1; done
NOEBPF=$(best)
kill -INT $AGENT; wait $AGENT || true
printf 'no agent %.2fs; agent without eBPF %.2fs; agent with eBPF %.2fs: %.0f ns a syscall\n' \
  "$NONE" "$NOEBPF" "$EBPF" "$(echo "($EBPF - $NOEBPF) * 1000000000 / 4000000" | bc -l)"
