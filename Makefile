# Two commands matter: `make demo` (the main job against the built-in sandbox) and `make test`.
# Both create .venv on first use, with nothing but python3, pip and make on the machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck unit clean test-matrix clean-matrix

# `make test-matrix` runs the suite against each Airflow below, each in its own venv
# .venv-matrix/<version> (made on first use): the latest patch of every supported minor, oldest first.
# `make test-matrix MATRIX_VERSIONS="3.1.8 3.3.2"` runs just the two ends. docs/compatibility.md says
# what differs between them.
MATRIX_VERSIONS ?= 3.1.8 3.2.2 3.3.2
MATRIX_DIR := .venv-matrix
# The browser test (e2e) and the built-wheel test (packaging) check the newest Airflow's UI and bundle
# loading, which older ones lack; the deployment tier (real scheduler, Celery) is run on the newest
# only: `make test` runs all three.
MATRIX_PYTEST_ARGS ?= -p no:cacheprovider -m "not e2e and not packaging and not deployment"

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3 -m venv is unavailable here; using virtualenv instead"; \
		$(PYTHON) -m pip install --user --quiet virtualenv && $(PYTHON) -m virtualenv --quiet $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy airflow_provider_mailpartner

unit: $(STAMP)
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache

# One venv per Airflow version. Its constraints keep pip from moving Airflow off that version, plus the pins
# in .ci/matrix/airflow-<minor>.txt: today's releases of some dependencies break older Airflow minors.
$(MATRIX_DIR)/%/.installed: pyproject.toml $(wildcard .ci/matrix/*.txt)
	@$(PYTHON) -m venv $(@D) 2>/dev/null || { \
		echo "python3 -m venv is unavailable here; using virtualenv instead"; \
		$(PYTHON) -m pip install --user --quiet virtualenv && $(PYTHON) -m virtualenv --quiet $(@D); }
	@echo "apache-airflow==$*" > $(@D)/constraints.txt
	@if [ -f .ci/matrix/airflow-$(basename $*).txt ]; then cat .ci/matrix/airflow-$(basename $*).txt >> $(@D)/constraints.txt; fi
	$(@D)/bin/python -m pip install --quiet --disable-pip-version-check -c $(@D)/constraints.txt \
		"apache-airflow==$*" -e '.[test]'
	@touch $@

# Every version runs even when one fails; a line per version at the end, and a failure if any failed.
test-matrix:
	@summary="$$(mktemp)"; status=0; \
	for version in $(MATRIX_VERSIONS); do \
		venv="$(MATRIX_DIR)/$$version"; \
		echo "=== Airflow $$version: $$venv"; \
		started=$$(date +%s); \
		if ! $(MAKE) --no-print-directory "$$venv/.installed"; then \
			echo "Airflow $$version  FAILED to install" >>"$$summary"; status=1; continue; \
		fi; \
		installed=$$(date +%s); \
		{ "$$venv/bin/python" -m pytest $(MATRIX_PYTEST_ARGS); echo $$? >"$$venv/pytest.status"; } 2>&1 \
			| tee "$$venv/pytest.log"; \
		if [ "$$(cat "$$venv/pytest.status")" = 0 ]; then result=ok; else result=FAILED; status=1; fi; \
		printf 'Airflow %-7s %-6s install %4ss  tests %4ss  %s\n' "$$version" "$$result" \
			"$$((installed - started))" "$$(($$(date +%s) - installed))" \
			"$$(tail -n 1 "$$venv/pytest.log" | tr -d '=' | sed 's/^ *//; s/ *$$//')" >>"$$summary"; \
	done; \
	echo "=== test-matrix"; cat "$$summary"; rm -f "$$summary"; exit $$status

clean-matrix:
	rm -rf $(MATRIX_DIR)
