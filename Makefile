# bulwark: the two commands the README starts with are `make serve` and
# `make test`. Both work on a fresh Debian machine with Go; `make test`
# installs what the tests need (as root) through scripts/deps.sh.

GO        ?= go
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME  ?= 5s
export BULWARK_CORPUS ?= $(abspath ../shared/corpus)
# The PostgreSQL that scripts/deps.sh starts; every store test runs on it
# and on SQLite.
export BULWARK_TEST_POSTGRES ?= postgres://bulwark:bulwark@127.0.0.1:5432/bulwark

.PHONY: build serve demo test deps lint unit race fuzz conformance bench clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o dist/bulwark ./cmd/bulwark

## serve: bulwark's main job: the registry with scan on push and the pull
## gate, on 127.0.0.1:5000, state in dist/serve-data.
serve: build
	./dist/bulwark serve --addr 127.0.0.1:5000 --data dist/serve-data

## demo: build bulwark, pack a real image from this machine, list its software.
demo: build
	$(GO) run ./tools/demoimage -out dist/demo -bin dist/bulwark
	./dist/bulwark sbom oci:dist/demo:demo

## test: everything CI runs: lint, unit and corpus tests, brief fuzzing,
## the OCI conformance suite against bulwark serve (SQLite and PostgreSQL).
test: deps lint unit race fuzz conformance

deps:
	bash scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

unit:
	$(GO) test -count=1 -timeout 25m ./...

# The concurrent layer and cataloger pipeline, the registry and the store
# under the race detector.
race:
	$(GO) test -count=1 -race ./internal/image/... ./internal/inventory/... ./internal/registry/... ./internal/store/... ./internal/server/... ./internal/audit/... ./internal/scanner/... ./internal/identity/... ./internal/admission/...

# The OCI distribution-spec conformance suite against `bulwark serve`, on
# each store: SQLite, PostgreSQL, and blobs in S3.
conformance:
	bash scripts/conformance.sh
	DATABASE=$(BULWARK_TEST_POSTGRES) bash scripts/conformance.sh
	S3=1 bash scripts/conformance.sh

# Every fuzz target runs briefly; a crash fails the build.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

bench:
	bash bench/sbom.sh

clean:
	rm -rf dist
