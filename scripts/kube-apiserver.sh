#!/usr/bin/env bash
# Builds kube-apiserver from the module proxy into $TOOLS/kube-apiserver-V
# (once per machine and version; a cold build takes 10-30 minutes on two
# cores, a cached one nothing) and prints the binary's path. The admission
# tests run it against Debian's etcd.
set -euo pipefail
V=${KUBE_VERSION:-v1.37.2}
TOOLS=${BULWARK_TOOLS:-/var/cache/bulwark-peers}
out=$TOOLS/kube-apiserver-$V
if [ -x "$out/kube-apiserver" ]; then echo "$out/kube-apiserver"; exit 0; fi
mkdir -p "$out"
minor=${V#v1.}; minor=${minor%%.*}
staging=v0.${V#v1.}
src=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$V" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
cd "$work"
rm -f go.work go.work.sum
# The module's go.mod points k8s.io/* at ./staging; the published v0.x
# modules hold the same code.
sed -i -E "s#(k8s.io/[a-z0-9-]+) => \./staging/src/k8s.io/[a-z0-9-]+#\1 => \1 $staging#" go.mod
start=$(date +%s)
GOWORK=off GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$V -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" -o "$out/kube-apiserver.tmp.$$" ./cmd/kube-apiserver >&2
mv "$out/kube-apiserver.tmp.$$" "$out/kube-apiserver"
echo "kube-apiserver $V built in $(( $(date +%s) - start )) s" >&2
echo "$out/kube-apiserver"
