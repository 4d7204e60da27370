#!/usr/bin/env bash
# Installs what bulwark's tests need on a Debian machine. Idempotent: it
# installs only what is missing, so it costs nothing on a prepared machine.
set -euo pipefail

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v dpkg-query  >/dev/null || need+=(dpkg)
command -v bc          >/dev/null || need+=(bc)
command -v awk         >/dev/null || need+=(gawk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root (or: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
