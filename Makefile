# popdata — the two set-up commands for a fresh clone are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
DEMO_PERSONS ?= 20000
DEMO_SEED ?= 2014
DEMO_DIR := var/demo

export GX_ANALYTICS_ENABLED := false

.PHONY: install system-deps demo test test-reliability lint typecheck unit integration up up-celery down status bench bench-slice bench-ingest bench-link eval-linkage clean help

help:
	@echo "make demo    install, start the embedded PostgreSQL, generate a county, run the DAGs, print a summary"
	@echo "make test    ruff, mypy and the whole test suite"
	@echo "make test-reliability  faults, concurrency and fuzzing at full size (docs/reliability.md; about half an hour)"
	@echo "make up      start Airflow (api-server, scheduler, dag-processor, triggerer): http://localhost:8080"
	@echo "make up-celery  the same with the CeleryExecutor and two Celery workers (Redis at 127.0.0.1:6379)"
	@echo "make down    stop Airflow (workers included) and the embedded PostgreSQL"
	@echo "make bench   the whole chain on 100 000, 300 000 and 1 000 000 persons, LocalExecutor and Celery"
	@echo "make bench-slice   throughput of the registry ingest slice (rows/s), phase by phase"
	@echo "make bench-ingest  full ingest of a 1 M-row registry file against a raw COPY of it"
	@echo "make bench-link    linkage alone on 100 000, 300 000 and 1 000 000-person counties"

# Debian packages the view, the run report and the browser tests need: Chromium (driven by
# Playwright with its executable path; no browser download) and a font that carries Chinese.
SYSTEM_PACKAGES := chromium fonts-wqy-microhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(STAMP) system-deps

system-deps:
	@if [ -x /usr/bin/chromium ] && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi; \
	if command -v apt-get >/dev/null; then \
	  echo "installing $(SYSTEM_PACKAGES) (apt-get)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null \
	  || { $(SUDO) apt-get update -q >/dev/null && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }; \
	else \
	  echo "warning: no apt-get: install Chromium (/usr/bin/chromium) and a CJK font yourself;" \
	       "charts then miss Chinese glyphs and the browser tests skip" >&2; \
	fi

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

demo: install
	@start=$$(date +%s); \
	$(BIN)/popdata db upgrade && \
	if [ ! -f $(DEMO_DIR)/truth/summary.json ]; then \
	  $(BIN)/popdata generate --persons $(DEMO_PERSONS) --seed $(DEMO_SEED) --out $(DEMO_DIR); \
	else echo "synthetic county already in $(DEMO_DIR) (make clean to regenerate)"; fi && \
	$(BIN)/popdata run --landing $(DEMO_DIR)/landing --outbox $(DEMO_DIR)/outbox --quiet-seconds 1 \
	  2> var/demo-run.log | grep -v '^file [0-9]*:' ; status=$${PIPESTATUS[0]}; \
	echo ""; \
	echo "Where to look:"; \
	echo "  warehouse : $$($(BIN)/popdata db url)   (psql \"$$($(BIN)/popdata db url | sed 's/+psycopg//')\")"; \
	echo "  receipts  : $(DEMO_DIR)/outbox/<agency>/receipts/"; \
	echo "  work lists: $(DEMO_DIR)/outbox/<agency>/worklists/ (with a Chinese cover note each)"; \
	echo "  Data Docs : var/gx/site/index.html (Great Expectations results of every batch)"; \
	echo "  report    : $(DEMO_DIR)/outbox/reports/<reference date>/ (self-contained HTML with charts, PNGs)"; \
	echo "  linkage   : make eval-linkage (person index scored against $(DEMO_DIR)/truth/)"; \
	echo "  truth     : $(DEMO_DIR)/truth/"; \
	echo "  run log   : var/demo-run.log"; \
	echo "  Airflow UI: make up, then http://localhost:8080 -> 人口数据 / Population data"; \
	echo "  village   : make up, .venv/bin/popdata village token new --village <12-digit code> --label <who>, then http://localhost:8080/village/ (村级直报, docs/village-reports.md)"; \
	echo "demo wall time: $$(( $$(date +%s) - start ))s"; \
	exit $$status

lint: install
	$(BIN)/ruff check include dags plugins tests
	$(BIN)/ruff format --check include dags plugins tests

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/pytest -q --durations=15

# issue 10 (docs/reliability.md): everything about faults, concurrency and hostile input at full
# size: the property tests with ten times the examples, 20 000 mutants through the readers and
# 1 000 through the whole ingest path (HYPOTHESIS_PROFILE), the fault-injection and concurrency
# tests, and the heavy runs marked `reliability` that make test leaves out (-m "" selects all)
RELIABILITY_TESTS = tests/unit/test_normalize_properties.py tests/unit/test_read_fuzz.py \
  tests/integration/test_pipeline_fuzz.py tests/integration/test_faults.py \
  tests/integration/test_concurrency.py tests/integration/test_concurrency_scale.py \
  tests/integration/test_scheduler_restart.py
test-reliability: install
	HYPOTHESIS_PROFILE=reliability $(BIN)/pytest -q -m "" --durations=10 --hypothesis-show-statistics \
	  $(RELIABILITY_TESTS)

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration tests/dags

up: install
	$(BIN)/popdata services start

# the same services with the CeleryExecutor: two Celery workers behind the local Redis (docs/scaling.md)
up-celery: install
	$(BIN)/popdata services start --executor celery --workers 2

down:
	-@test -x $(BIN)/popdata && $(BIN)/popdata services stop
	-@test -x $(BIN)/popdata && $(BIN)/popdata db stop

status: install
	$(BIN)/popdata status

# the whole chain on 100 000, 300 000 and 1 000 000 persons, LocalExecutor and Celery (docs/performance.md)
BENCH_PERSONS ?= 100000 300000 1000000
bench: install
	$(BIN)/python -m popdata.bench_e2e --persons $(BENCH_PERSONS)

bench-slice: install
	$(BIN)/python -m popdata.bench

bench-ingest: install
	$(BIN)/python -m popdata.bench_ingest

BENCH_LINK_PERSONS ?= 100000 300000 1000000

bench-link: install
	$(BIN)/python -m popdata.bench_link --persons $(BENCH_LINK_PERSONS)

eval-linkage: install
	$(BIN)/python -m popdata.linkage.evaluate --truth $(DEMO_DIR)/truth --json var/linkage-evaluation.json

clean:
	rm -rf $(DEMO_DIR) var/demo-run.log
