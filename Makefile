# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ANVIL_VERSION := 1.7.1
ANVIL := .tools/node_modules/.bin/anvil

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml $(ANVIL)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Anvil, the local Ethereum node the app starts when no CHAIN_RPC_URL is set, ships as an npm package.
$(ANVIL):
	npm install --prefix .tools --no-audit --no-fund --no-package-lock @foundry-rs/anvil-linux-amd64@$(ANVIL_VERSION)

# The server answers within seconds; the demo's tracks are rendered and analysed in the background,
# with progress in this terminal and on the Discover page.
run: $(STAMP)
	STRIPE_HOLD_DAYS=0 $(BIN)/marketplace serve --demo --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .tools .data .pytest_cache .mypy_cache .ruff_cache
