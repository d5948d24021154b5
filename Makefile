# Two commands for a newcomer: `make run` (the product) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-webhook bench-dialer bench-pages bench-engine bench-import bench-relay bench-api bench-webhook-delivery services clean

# Says what it does: on a first run, installing takes a few quiet minutes that look like a hang.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || { echo "==> Creating the virtual environment in $(VENV)..."; $(PYTHON) -m venv $(VENV); }
	@echo "==> Installing the pinned requirements into $(VENV) (a few minutes the first time)..."
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)
	@echo "    done"

## Run web + workers + scheduler with demo data (SQLite and embedded Redis unless DATABASE_URL/REDIS_URL are set).
run: $(STAMP)
	$(BIN)/python scripts/run.py

## Run the whole test suite against PostgreSQL and Redis (started here if installed but not running).
test: $(STAMP)
	scripts/ensure-services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/run.py

## The turn webhook under load on gunicorn + PostgreSQL, next to a trivial view.
bench-webhook: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/turn_webhook.py

## Dialer dispatch rate (simulated provider) next to a no-op RQ job.
bench-dialer: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/dialer_bench.py

## An account's pages with 1,000,000 calls: dashboard, calls list and its filters, analytics, campaign pages, CSV export start.
bench-pages: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/pages_bench.py

## The conversation engines' own time per turn (model time excluded).
bench-engine: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/engine_overhead.py

## Contact import of 100,000 CSV rows (the background job, inline) next to PostgreSQL COPY of the same rows.
bench-import: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/import_bench.py

## Outgoing webhooks: deliveries per second for one RQ worker, signed and sent to a receiver on this machine.
bench-webhook-delivery: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/webhook_delivery_bench.py

## Real-time conversations (ConversationRelay) next to the Gather path: own latency per turn, live calls per machine.
bench-relay: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/relay_bench.py

## GET /api/v1/calls for a workspace with 1,000,000 calls: first and deep cursor pages, with and without filters.
bench-api: $(STAMP)
	scripts/ensure-services
	$(BIN)/python bench/api_calls_bench.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
