# SME Cluster Growth — the two commands: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
export UV_CACHE_DIR := $(CURDIR)/.cache/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
PORT ?= 8000

.PHONY: run test lint unit integration bench schemas docs backends deploy-tools edge fuzz-edge mutate clean help

help:
	@echo "make run      start the regional stack on http://127.0.0.1:$(PORT) (embedded SQLite store and event log)"
	@echo "make test     lint, type-check and run every test (real Kafka and FerretDB are provisioned)"
	@echo "make bench    run the benchmarks in bench/ and write bench/results/*.json"
	@echo "make schemas  regenerate the committed event JSON Schemas and docs/asyncapi.yaml"
	@echo "make docs     regenerate docs/authorization.md (roles per route)"
	@echo "make edge     build the gateway's compiled front (gateway/edge, Rust) under .cache"
	@echo "make fuzz-edge  the compiled front's request path: property tests (PROPTEST_CASES), then libFuzzer (FUZZ_SECONDS)"
	@echo "make mutate   mutation testing of the rules against the fast tests (not part of make test); writes"
	@echo "              mutation/report.md and .json; MUTATE_MODULES=auth,paging (names in mutation/scope.toml)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON) --quiet
	touch $@

run: $(STAMP)
	PORT=$(PORT) $(VENV)/bin/clustergrowth run

# Pinned tools and schemas the deployment tests use (tests/deploy, tests/test_compose.py): Helm (built
# from the Go module proxy), Strimzi's and the MongoDB community operator's CRDs, the Compose
# Specification's JSON schema (compose-go's), promtool (Debian's prometheus package).
deploy-tools:
	deploy/native/provision.sh helm >/dev/null
	deploy/native/provision.sh crds >/dev/null
	deploy/native/provision.sh compose-spec >/dev/null
	deploy/native/provision.sh promtool >/dev/null

backends: edge
	deploy/native/provision.sh kafka >/dev/null
	deploy/native/provision.sh ferretdb >/dev/null
	deploy/native/provision.sh redis >/dev/null
	deploy/native/provision.sh nginx >/dev/null
	deploy/native/provision.sh chromium >/dev/null
	deploy/native/provision.sh asyncapi >/dev/null

# The gateway's compiled front (Rust on hyper/tokio; crates locked in Cargo.lock, fetched into .cache/cargo
# by provision.sh edge), built under .cache; rustfmt, clippy and its unit and property tests run in lint.
# make fuzz-edge: the request-path property tests with many more cases (PROPTEST_CASES, default 20000), then
# the libFuzzer target gateway/edge/fuzz for FUZZ_SECONDS (default 120; its corpus grows in .cache/fuzz).
CARGO := $(shell command -v cargo || echo $(HOME)/.cargo/bin/cargo)
EDGE_CARGO := CARGO_HOME=$(CURDIR)/.cache/cargo CARGO_TARGET_DIR=$(CURDIR)/.cache/edge/target $(CARGO)
EDGE_MANIFEST := --manifest-path gateway/edge/Cargo.toml
PROPTEST_CASES ?= 20000
FUZZ_SECONDS ?= 120
edge:
	deploy/native/provision.sh edge >/dev/null

fuzz-edge: edge
	PROPTEST_CASES=$(PROPTEST_CASES) $(EDGE_CARGO) test -q $(EDGE_MANIFEST) --offline --locked fuzz::
	deploy/native/provision.sh cargo-fuzz >/dev/null
	mkdir -p .cache/fuzz/request_path
	cd gateway/edge && PATH=$(CURDIR)/.cache/cargo-tools/bin:$(dir $(CARGO)):$$PATH CARGO_HOME=$(CURDIR)/.cache/cargo CARGO_NET_OFFLINE=true \
	  $(CARGO) fuzz run --sanitizer none --target-dir $(CURDIR)/.cache/edge/fuzz-target request_path \
	  $(CURDIR)/.cache/fuzz/request_path fuzz/seeds/request_path -- -max_total_time=$(FUZZ_SECONDS) -timeout=30

lint: $(STAMP) edge
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m instance.layers
	$(EDGE_CARGO) fmt $(EDGE_MANIFEST) --check
	$(EDGE_CARGO) clippy -q $(EDGE_MANIFEST) --offline --locked --all-targets -- -D warnings
	$(EDGE_CARGO) test -q $(EDGE_MANIFEST) --offline --locked

test: $(STAMP) backends deploy-tools lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider -m "not integration and not fault"

bench: $(STAMP) backends
	$(VENV)/bin/python -m bench

# Mutation testing (mutmut) of the rules in mutation/scope.toml against the unit, component and SQLite
# contract tests; works in .cache/mutation. MUTATE_MODULES, MUTATE_JOBS, MUTATE_REV, MUTATE_RESUME, MUTATE_REPORT:
# see mutation/run.py.
mutate: $(STAMP)
	MUTATE_MODULES="$(MUTATE_MODULES)" MUTATE_JOBS="$(MUTATE_JOBS)" MUTATE_REV="$(MUTATE_REV)" \
	  MUTATE_RESUME="$(MUTATE_RESUME)" MUTATE_REPORT="$(MUTATE_REPORT)" $(VENV)/bin/python mutation/run.py

schemas: $(STAMP)
	$(VENV)/bin/clustergrowth schemas --out schemas/events
	$(VENV)/bin/clustergrowth asyncapi --out docs/asyncapi.yaml

docs: $(STAMP)
	CG_DATA_DIR=.data/docs $(VENV)/bin/clustergrowth routes --out docs/authorization.md

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
