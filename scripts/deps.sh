#!/usr/bin/env bash
# Installs what bulwark's tests need on a Debian machine. Idempotent: it
# installs only what is missing, so it costs nothing on a prepared machine.
set -euo pipefail

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v dpkg-query  >/dev/null || need+=(dpkg)
command -v bc          >/dev/null || need+=(bc)
command -v awk         >/dev/null || need+=(gawk)
command -v python3     >/dev/null || need+=(python3)
command -v npm         >/dev/null || need+=(nodejs npm)
[ -f /usr/bin/time ]              || need+=(time)
# Version-ordering oracles: rpm's own vercmp, Python's packaging, Maven's
# ComparableVersion (maven-artifact), node's semver (bundled with npm).
command -v rpm        >/dev/null || need+=(rpm)
/usr/bin/python3 -c 'import packaging' 2>/dev/null || need+=(python3-packaging)
ls /usr/share/maven/lib/maven-artifact*.jar >/dev/null 2>&1 || need+=(maven)
# Real language packages the cataloger tests read: Debian's Python
# distributions and Java libraries.
[ -d /usr/lib/python3/dist-packages/attrs-22.2.0.dist-info ] || ls /usr/lib/python3/dist-packages/*.dist-info >/dev/null 2>&1 || need+=(python3-attr python3-yaml)
ls /usr/share/java/*.jar >/dev/null 2>&1 || need+=(libcommons-io-java libcommons-lang3-java)
# The store tests and the registry conformance run: PostgreSQL, curl.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v curl >/dev/null || need+=(curl)
# docker-bench-security, run beside bulwark cis docker, reads daemon.json
# with jq when it is installed (its verdicts depend on it) and needs ss.
command -v jq >/dev/null || need+=(jq)
command -v ss >/dev/null || need+=(iproute2)
# The admission tests run a real kube-apiserver (scripts/kube-apiserver.sh
# builds it) on Debian's etcd; kubectl drives it.
command -v etcd >/dev/null || need+=(etcd-server)
# The SIEM export test sends the audit trail to a real rsyslog (TCP, TLS).
command -v rsyslogd >/dev/null || need+=(rsyslog)
[ -f /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need+=(rsyslog-gnutls)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root (or: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
fi

# Start PostgreSQL (whatever version Debian ships) and create the test
# role and database once. The tests use BULWARK_TEST_POSTGRES.
if [ "$(id -u)" = 0 ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_lsclusters -h 2>/dev/null | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
  pg_lsclusters -h | grep -q "^$ver main .* online" || pg_ctlcluster "$ver" main start
  for _ in $(seq 30); do su postgres -c 'pg_isready -q' && break; sleep 0.5; done
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='bulwark'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE bulwark LOGIN SUPERUSER PASSWORD 'bulwark'\""
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='bulwark'\"" | grep -q 1 ||
    su postgres -c "createdb -O bulwark bulwark"
fi
