#!/usr/bin/env bash
# Times `bulwark scan` against osv-scanner (offline, reading the same OSV
# records from an all.zip) and govulncheck (binary mode, a local copy of
# the Go vulnerability database made from the same records), on a Go
# program built here against known-vulnerable module versions. Reports
# median wall time (hyperfine), peak memory (/usr/bin/time), ratios, and
# whether bulwark and osv-scanner report the same findings.
#
#   bash bench/scan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CORPUS=${BULWARK_CORPUS:-$ROOT/../shared/corpus}
PEERS_DIR=${PEERS_DIR:-/var/cache/bulwark-peers}
RUNS=${RUNS:-20}
OSV=$PEERS_DIR/osv-scanner-v2.6.0/osv-scanner
GOVULN=$PEERS_DIR/govulncheck-v1.9.0/govulncheck
[ -x "$OSV" ] || GOTOOLCHAIN=go1.27.3 GOBIN=$(dirname "$OSV") go install github.com/google/osv-scanner/v2/cmd/osv-scanner@v2.6.0
[ -x "$GOVULN" ] || GOBIN=$(dirname "$GOVULN") go install golang.org/x/vuln/cmd/govulncheck@v1.9.0
command -v hyperfine >/dev/null || { echo "install hyperfine: apt-get install -y hyperfine" >&2; exit 2; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$W/bulwark" ./cmd/bulwark
B=$W/bulwark

# The program: old gin, x/net, x/text and yaml.v2.
mkdir -p "$W/mod" "$W/fs"
cat > "$W/mod/go.mod" <<'MOD'
module example.com/benchapp

go 1.22

require (
	github.com/gin-gonic/gin v1.6.0
	golang.org/x/net v0.0.0-20210226172049-e18ecbb05110
	golang.org/x/text v0.3.5
	gopkg.in/yaml.v2 v2.2.2
)
MOD
cat > "$W/mod/main.go" <<'SRC'
package main

import (
	_ "github.com/gin-gonic/gin"
	_ "golang.org/x/net/html"
	_ "golang.org/x/text/language"
	_ "gopkg.in/yaml.v2"
)

func main() {}
SRC
(cd "$W/mod" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$W/fs/app" .)
# The same program as a one-layer image.
mkdir -p "$W/root/usr/local/bin" && cp "$W/fs/app" "$W/root/usr/local/bin/app"
tar -C "$W/root" -cf "$W/layer.tar" .
(cd "$CORPUS/../tools/imagepack" && go build -o "$W/imagepack" .)
"$W/imagepack" -layer "$W/layer.tar" -tag bench/app:1 -docker "$W/app.tar" -oci "$W/oci" -arch amd64 >/dev/null

# The same 4,291 Go records for every tool.
"$B" db import --db "$W/vuln.db" "$CORPUS/osv/go-vulndb" >/dev/null
mkdir -p "$W/osv/osv-scalibr/Go"
(cd "$CORPUS/osv/go-vulndb" && zip -q -r "$W/osv/osv-scalibr/Go/all.zip" GO-*.json)
python3 - "$CORPUS/osv/go-vulndb" "$W/govulndb" <<'PY'
import json, os, glob, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out + "/index", exist_ok=True); os.makedirs(out + "/ID", exist_ok=True)
mods, vulns, latest = {}, [], ""
for f in sorted(glob.glob(src + "/GO-*.json")):
    d = json.load(open(f)); latest = max(latest, d["modified"])
    json.dump(d, open(out + "/ID/" + d["id"] + ".json", "w"))
    vulns.append({"id": d["id"], "modified": d["modified"], "aliases": d.get("aliases", [])})
    for a in d.get("affected", []):
        fixed = [e["fixed"] for r in a.get("ranges", []) for e in r["events"] if "fixed" in e]
        v = {"id": d["id"], "modified": d["modified"]}
        if fixed: v["fixed"] = fixed[-1]
        mods.setdefault(a["package"]["name"], []).append(v)
json.dump({"modified": latest}, open(out + "/index/db.json", "w"))
json.dump([{"path": p, "vulns": v} for p, v in sorted(mods.items())], open(out + "/index/modules.json", "w"))
json.dump(vulns, open(out + "/index/vulns.json", "w"))
PY

export OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY=$W/osv
declare -A CMD=(
  [bulwark-fs]="$B scan fs --db $W/vuln.db $W/fs -f json"
  [govulncheck]="$GOVULN -db file://$W/govulndb -mode binary $W/fs/app"
  [bulwark-image-cold]="$B scan image --no-cache --db $W/vuln.db docker-archive:$W/app.tar -f json"
  [bulwark-image-warm]="$B scan image --cache-dir $W/cache --db $W/vuln.db docker-archive:$W/app.tar -f json"
  [osv-scanner-image]="$OSV scan image --archive $W/app.tar --offline --format json"
)
$B scan image --cache-dir "$W/cache" --db "$W/vuln.db" "docker-archive:$W/app.tar" >/dev/null
for name in bulwark-fs govulncheck bulwark-image-cold bulwark-image-warm osv-scanner-image; do
  hyperfine -N -i -w 3 -r "$RUNS" --export-json "$W/$name.json" "${CMD[$name]}" >/dev/null 2>&1
  /usr/bin/time -f "%M" -o "$W/$name.mem" ${CMD[$name]} >/dev/null 2>&1 || true
done

# Agreement: the same (package, advisory) pairs?
$B scan image --no-cache --db "$W/vuln.db" "docker-archive:$W/app.tar" -f json > "$W/bw.json"
$OSV scan image --archive "$W/app.tar" --offline --format json > "$W/osv.json" 2>/dev/null || true

python3 - "$W" <<'PY'
import json, sys, statistics
w = sys.argv[1]
names = ["bulwark-fs", "govulncheck", "bulwark-image-cold", "bulwark-image-warm", "osv-scanner-image"]
med, mem = {}, {}
for n in names:
    r = json.load(open(f"{w}/{n}.json"))["results"][0]
    med[n] = statistics.median(r["times"]) * 1000
    mem[n] = int(open(f"{w}/{n}.mem").read().split()[-1]) / 1024
print(f"{'tool':20} {'median ms':>10} {'peak MiB':>9}")
for n in names:
    print(f"{n:20} {med[n]:10.1f} {mem[n]:9.1f}")
print()
print(f"bulwark scan fs / govulncheck -mode binary: wall {med['bulwark-fs']/med['govulncheck']:.2f}, memory {mem['bulwark-fs']/mem['govulncheck']:.2f}")
print(f"bulwark scan image (cold) / osv-scanner: wall {med['bulwark-image-cold']/med['osv-scanner-image']:.2f}, memory {mem['bulwark-image-cold']/mem['osv-scanner-image']:.2f}")
print(f"bulwark scan image (warm) / osv-scanner: wall {med['bulwark-image-warm']/med['osv-scanner-image']:.2f}")
osv = {(p["package"]["name"], v["id"]) for r in json.load(open(f"{w}/osv.json")).get("results", []) for p in r.get("packages", []) for v in p.get("vulnerabilities", [])}
bw = {(r["package"]["name"], r["id"]) for r in json.load(open(f"{w}/bw.json"))["results"]}
print(f"findings: bulwark {len(bw)}, osv-scanner {len(osv)}, only bulwark {sorted(bw-osv)}, only osv-scanner {sorted(osv-bw)}")
PY
