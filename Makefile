# chatwatch — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
CORE_SOURCES := $(shell find stream/core -name '*.py' -not -path '*/_native/*')
NATIVE := stream/core/_native/manifest.json
# The engine crate (engine/, Rust with PyO3 bindings) built by maturin into the virtualenv.
ENGINE := $(VENV)/.installed-engine
ENGINE_SOURCES := engine/Cargo.toml engine/Cargo.lock engine/pyproject.toml $(wildcard engine/src/*.rs)
RUST_VERSION := 1.74
# rustup's cargo, when the shell that runs make has not put it on the PATH
export PATH := $(PATH):$(HOME)/.cargo/bin
DEBIAN_TOOLS := prometheus promtool prometheus-alertmanager amtool kcat
# chromium: the board's browser test; fonts-noto-cjk: Chinese text in its screenshots; kcat:
# the client matrix on Apache Kafka (tests/integration/test_apache_kafka.py)
DEBIAN_PACKAGES := prometheus prometheus-alertmanager chromium fonts-noto-cjk kcat
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'

# A fresh Debian machine may lack python3.11 or its venv module (Debian ships it apart, as
# python3.11-venv): install both with apt-get, as `tools` does, when the default interpreter
# is missing and there is no .venv yet. A PYTHON given on the command line is left alone.
$(STAMP): pyproject.toml
	@if [ "$(PYTHON)" = python3.11 ] && ! test -x $(BIN)/python && command -v apt-get >/dev/null && \
	    ! { command -v $(PYTHON) >/dev/null && $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; }; then \
	  echo "installing Debian packages python3.11 python3.11-venv"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv >/dev/null; \
	fi
	@command -v $(PYTHON) >/dev/null || { echo "chatwatch needs Python 3.11 ($(PYTHON) not found; on Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP) $(ENGINE) $(NATIVE) ## Create .venv, install chatwatch with its test tools, build the engine, compile the core

# The engine crate, rebuilt whenever a source of it changes. It needs Rust $(RUST_VERSION) or
# later: Debian's packages are installed when they are that recent (bookworm's 1.63 is not),
# otherwise the build says exactly what to install.
$(ENGINE): $(STAMP) $(ENGINE_SOURCES)
	@if ! command -v cargo >/dev/null && command -v apt-get >/dev/null && \
	    apt-cache policy rustc 2>/dev/null | awk '/Candidate:/ {split($$2, v, "[.+~-]"); exit !(v[1] > 1 || v[2] >= 74)}'; then \
	  echo "installing Debian packages cargo rustc"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends cargo rustc >/dev/null; \
	fi
	@command -v cargo >/dev/null && cargo --version | awk '{split($$2, v, "."); exit !(v[1] > 1 || v[2] >= 74)}' || { \
	  echo "chatwatch's engine (engine/) is a Rust crate: it needs Rust $(RUST_VERSION) or later and cargo"; \
	  echo "  found: $$(cargo --version 2>/dev/null || echo 'no cargo on the PATH')"; \
	  echo "  install: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal"; \
	  echo "  then run make again (rustup puts cargo in ~/.cargo/bin, which make looks in)"; \
	  exit 1; }
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --quiet --manifest-path engine/Cargo.toml
	touch $(ENGINE)

.PHONY: engine
engine: $(ENGINE) ## Build the engine crate (run, test and bench do it when it is stale)

# The domain core compiled with mypyc (stream/native.py), rebuilt whenever a source of it
# changes. Without a C compiler the build says so and the pure-Python core runs: the same
# code, slower (`python -m stream.native status` tells which one a process imports).
$(NATIVE): $(STAMP) $(CORE_SOURCES)
	$(BIN)/python -m stream.native build --if-possible

.PHONY: native
native: $(NATIVE) ## Compile the domain core with mypyc (run, test and bench do it when it is stale)

.PHONY: tools
tools: ## Install Prometheus, Alertmanager, promtool, amtool, Chromium, a CJK font and kcat from Debian when missing
	@missing=""; for t in $(DEBIAN_TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	test -x /usr/bin/chromium || missing=1; \
	test -d /usr/share/fonts/opentype/noto || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages $(DEBIAN_PACKAGES)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; \
	fi

# Apache Kafka (KRaft) for the tests that run on it: its jars from Maven Central into
# .cache/kafka/<version> (stream/kafka_local.py; a second run does nothing). Fetching needs
# Java 17+ and Maven: installed from Debian, as `tools` does, when missing.
.PHONY: kafka
kafka: $(STAMP) ## Fetch Apache Kafka (KRaft mode) from Maven Central into .cache/kafka, once
	@missing=""; command -v java >/dev/null || missing="openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages$${missing:+ }$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@$(BIN)/python -m stream.kafka_local install

BROKER ?= embedded

.PHONY: run
run: $(STAMP) $(ENGINE) $(NATIVE) $(if $(filter kafka,$(BROKER)),kafka) ## Start a broker (BROKER=kafka: Apache Kafka), a worker and the simulator (Ctrl-C stops all)
	@case "$(BROKER)" in embedded|kafka) ;; \
	  *) echo "BROKER=$(BROKER): use BROKER=embedded (the default) or BROKER=kafka"; exit 1;; esac
	$(BIN)/chatwatch run $(if $(filter kafka,$(BROKER)),--kafka)

.PHONY: test
test: $(BENCH_STAMP) $(ENGINE) $(NATIVE) tools kafka ## Install everything the tests need and run the whole suite (the engine crate's own tests too)
	cargo test --quiet --release --no-default-features --manifest-path engine/Cargo.toml
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(BENCH_STAMP) $(ENGINE) $(NATIVE) ## Run the unit tests only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

DURATION ?= 600
# make chaos CLUSTER=3: the chaos run on a three-broker Apache Kafka cluster
CLUSTER ?= 1
SOAK_SECONDS ?= 1800

.PHONY: chaos
chaos: $(STAMP) $(ENGINE) $(NATIVE) $(if $(filter 3,$(CLUSTER)),kafka) ## Chaos run: 3 workers, a seeded fault schedule, exact figures checked (DURATION=600, CHAOS_SEED=...; CLUSTER=3: on three Apache Kafka brokers, brokers faulted too)
	CHAOS_SECONDS=$(DURATION) $(BIN)/pytest tests/chaos/$(if $(filter 3,$(CLUSTER)),chaos_kafka.py,test_chaos.py) -m chaos -s -p no:cacheprovider \
	  -o timeout=$$(( $(DURATION) + 600 )) $(PYTEST_ARGS)

.PHONY: soak
soak: $(STAMP) $(ENGINE) $(NATIVE) ## Soak: one worker at a constant rate for SOAK_SECONDS (1800), RSS, open waits and lag every minute
	$(BIN)/python -m tests.chaos.soak --seconds $(SOAK_SECONDS) --every 60

.PHONY: lint
lint: $(STAMP) $(ENGINE) tools ## ruff, mypy on the core, promtool and amtool checks; cargo fmt, clippy and test on the engine crate
	cd engine && cargo fmt --check
	cd engine && cargo clippy --quiet --release --all-targets -- -D warnings
	cd engine && cargo test --quiet --release --no-default-features
	$(BIN)/ruff check stream agents alerts tests
	$(BIN)/mypy
	promtool check rules alerts/rules/*.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

# The peers of the comparison (Quix Streams, Bytewax, confluent-kafka) are the `bench` extra:
# installed for benchmarking, and for the tests that keep the peers honest
# (tests/*/test_bench_peers.py), never a dependency of chatwatch itself.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)
.PHONY: eval
eval: $(STAMP) $(ENGINE) ## Recall per evasion class and false positives per negative class of the content check
	$(BIN)/python -m tests.content.evaluate

.PHONY: bench
# The throughput comparison runs on Apache Kafka (`kafka`); the bench builds the Kafka Streams
# peer with Maven into .cache/bench/kafka-streams once (bench/peers/kafka_streams_app.py).
bench: $(BENCH_STAMP) $(ENGINE) $(NATIVE) kafka ## Run the benchmarks (peers included, on Apache Kafka) and print one JSON line (saved under bench/results/)
	$(BIN)/python -m bench

.PHONY: clean
clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info stream/core/_native engine/target
