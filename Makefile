# Two commands for a fresh machine: `make demo` (the loop on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test lint format bench models clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "rapp needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: install
	$(BIN)/rapp demo

test: install
	scripts/postgres-up
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/rop_pipeline.py

# The shipped models (models/forecaster, models/detector), rebuilt from a seeded simulated
# network: the same command gives the same models, figures and data hashes. The detector is not
# promoted: its per-cell profiles belong to that network, not to the one a deployment watches.
MODEL_DATA := var/sim-seed7
models: install
	rm -rf models/forecaster models/detector $(MODEL_DATA)
	$(BIN)/python -m simulators.o1.dataset --cells 200 --days 28 --seed 7 --anomalies 40 \
		--out $(MODEL_DATA) --format parquet
	$(BIN)/rapp train forecaster --data $(MODEL_DATA) --root models --promote --author "make models"
	$(BIN)/rapp train detector --data $(MODEL_DATA) --root models --author "make models"

clean:
	rm -rf var build *.egg-info .pytest_cache .ruff_cache
