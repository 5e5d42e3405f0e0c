# Two commands for a fresh machine: `make demo` (the loop on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: install demo test lint format bench models clean

# opa-golib-python-bindings is the real OPA (its Go library), the reference the embedded Rego
# engine is tested against: its wheel declares Python 3.14 but runs on 3.11, hence the flags.
# helm-sdkpy is Helm's own Go library (the chart is linted with it); it declares Python 3.12 and
# runs on 3.11 the same way.
$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "rapp needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python \
		opa-golib-python-bindings==0.4.4 helm-sdkpy==0.1.32
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: install
	$(BIN)/rapp demo

# Two workers, a test file each at a time: most long tests wait on real peers (brokers, git,
# HTTP servers, killed and restarted processes), so two files overlap well on two cores; a file
# stays in one process because some share one runtime (DBOS allows one per process).
test: install
	scripts/postgres-up
	$(BIN)/pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/rop_pipeline.py

# The shipped models (models/forecaster, models/detector), rebuilt from seeded simulated
# networks: the same command gives the same models, figures and data hashes. The forecaster is
# global (it learns shapes, not cells) and learns from the rich simulated network; the detector
# learns each cell's normal week, so it learns the demo network's own three weeks (its cells, its
# sleeping cells as ground truth). A deployment trains its own detector on its own history
# (`rapp export telemetry`, then `rapp train detector`); cells the detector never saw get no score.
MODEL_DATA := var/sim-seed7
DEMO_HISTORY := var/demo-history
models: install
	rm -rf models/forecaster models/detector $(MODEL_DATA)
	$(BIN)/python -m simulators.o1.dataset --cells 200 --days 28 --seed 7 --anomalies 40 \
		--out $(MODEL_DATA) --format parquet
	$(BIN)/rapp train forecaster --data $(MODEL_DATA) --root models --promote --author "make models"
	rm -rf $(DEMO_HISTORY)
	$(BIN)/python -m simulators.o1.history --cells 200 --seed 1 --days 21 --out $(DEMO_HISTORY)
	$(BIN)/rapp train detector --data $(DEMO_HISTORY) --root models --promote --author "make models"

clean:
	rm -rf var build *.egg-info .pytest_cache .ruff_cache
