# Recondesk. `make demo` runs the app with demo users; `make test` runs the whole suite.
# With no DATABASE_URL / REDIS_URL both start real PostgreSQL and Redis from Python wheels.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.lock | cut -d' ' -f1)

.PHONY: help install demo test fuzz-api worker beat web lint format lock bench check-deploy clean-data

help:
	@echo "make demo    run Recondesk at http://127.0.0.1:8000 with demo users (Ctrl-C stops)"
	@echo "make test    run the whole test suite"
	@echo "make fuzz-api  schemathesis over every API operation and role (API_FUZZ_EXAMPLES=100)"
	@echo "make worker  run a Celery worker (more workers: run it again, on any machine)"
	@echo "make lint    ruff check, format check and the import contracts"
	@echo "make lock    re-resolve requirements.lock from pyproject.toml"

$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Recondesk needs Python 3.11 or newer; set PYTHON=python3.11 (or newer).")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The lock holds every package, each pinned with its hashes: install exactly those, with no
	@# resolving of dependencies again (which hash mode cannot do for packages with extras).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements.lock
	$(BIN)/python -m pip check
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m config.demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A large seeded schemathesis run (the suite runs a small one): every operation, every role.
# It prints the requests sent, the 5xx answers and the answers outside the schema.
API_FUZZ_EXAMPLES ?= 100
API_FUZZ_REPORT   ?= $(or $(RECONDESK_DATA_DIR),.data)/api-fuzz.json
fuzz-api: install
	@mkdir -p $(dir $(API_FUZZ_REPORT)) && rm -f $(API_FUZZ_REPORT)
	API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) API_FUZZ_REPORT=$(API_FUZZ_REPORT) \
		$(BIN)/python -m pytest tests/test_api_schema_truth.py -q -p no:logging $(PYTEST_ARGS); \
	status=$$?; $(BIN)/python -c 'import json, sys; f = json.load(open(sys.argv[1])); \
		print("requests", f["requests"], "| 5xx", f["5xx"], "| outside the schema", f["violations"]); \
		print(" ".join(f"{k[7:]}: {v}" for k, v in sorted(f.items()) if k.startswith("status ")))' \
		$(API_FUZZ_REPORT); exit $$status

worker: install
	$(BIN)/python -m celery -A config worker -l info

beat: install
	$(BIN)/python -m celery -A config beat -l info --pidfile=

web: install
	$(BIN)/gunicorn -c config/gunicorn.py config.wsgi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the import contracts in pyproject.toml (docs/architecture.md)

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: install
	$(BIN)/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --no-strip-extras -o requirements.lock pyproject.toml

bench: install
	$(BIN)/python -m bench

check-deploy: install
	$(BIN)/python manage.py check --deploy

clean-data:
	@echo "This deletes .data/ (the embedded database, Redis and demo credentials)."
	@read -p "Type 'delete' to confirm: " answer && [ "$$answer" = delete ] && rm -rf .data && echo "Deleted."
