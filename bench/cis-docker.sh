#!/usr/bin/env bash
# CIS Docker Benchmark speed: bulwark cis docker against
# docker-bench-security (../shared/peers/docker-bench-security, the
# commit bulwark's catalogue comes from) on this host, with no test
# containers and with $N running ones (a Debian image the tests build,
# bulwark-test/debian:bookworm-minbase; run `go test ./internal/watch`
# once, or bash ../shared/tools/build-debian-image.sh, to have it).
# Each tool runs its default sections (1-7), restricted to the test
# containers by name (-i), $REPEAT times; the median wall time is printed.
#
#   sudo bash bench/cis-docker.sh     (N=20 REPEAT=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
REPEAT=${REPEAT:-3}
PEER=${PEER:-$(cd ../shared/peers/docker-bench-security && pwd)}
IMG=${IMG:-bulwark-test/debian:bookworm-minbase}
W=$(mktemp -d)
P=bwbench$$-
cleanup() {
  ids=$(docker ps -aq --filter "name=$P")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # command... -> seconds (median of REPEAT)
  for _ in $(seq "$REPEAT"); do
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    echo "$e - $s" | bc
  done | median
}
measure() {
  local label=$1
  b=$(cd "$PEER" && timeit sh docker-bench-security.sh -b -l "$W/bench.log" -i "^$P")
  o=$(timeit "$W/bulwark" cis docker -i "^$P")
  printf '%-28s docker-bench-security %6.2f s   bulwark %6.3f s   ratio %5.0fx\n' "$label" "$b" "$o" "$(echo "$b / $o" | bc -l)"
}
measure "no containers"
for i in $(seq "$N"); do
  docker run -d --name "$P$i" "$IMG" sleep 600 >/dev/null
done
measure "$N running containers"
