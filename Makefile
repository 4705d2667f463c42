# The two commands: `make demo` (the ingest DAG on the embedded default) and `make test`
# (the whole suite against real PostgreSQL and S3 servers started on loopback).
.PHONY: demo airflow test unit bench lint lock venv clean

venv:
	@scripts/bootstrap.sh

demo: venv
	@scripts/demo.sh

# Airflow with the plugin on the demo's catalog: reference DAGs unpaused, no examples;
# prints the URL and the login.
airflow: venv
	@scripts/airflow.sh

test: venv
	@scripts/test.sh

unit: venv
	@.venv/bin/pytest -q -p no:cacheprovider -n 2 tests/unit

bench: venv
	@scripts/bench.sh

# ruff, mypy (strict on the core: [tool.mypy] in pyproject.toml) and the import contract.
lint: venv
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
	@.venv/bin/mypy
	@.venv/bin/pytest -q -p no:cacheprovider tests/unit/test_import_contract.py

# Re-resolve requirements.lock for every supported Python (needs network to the index).
lock:
	python3 -m pip install -q --user uv && python3 -m uv pip compile pyproject.toml \
	  --extra test --universal --python-version 3.10 --no-header -o requirements.lock

clean:
	rm -rf .venv .services .dhub-demo test-artifacts
