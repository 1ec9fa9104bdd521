# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and are safe to run again.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean

$(PY):
	python3 -m venv $(VENV)

# The CPU wheel of PyTorch is installed first and pinned, so that nothing
# later pulls a CUDA build; then the project with its test extra.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q "torch==2.13.*"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m convlens.demo $(DEMO_ARGS)

lint: install
	$(PY) -m ruff check $(wildcard src tests benchmarks examples)
	$(PY) -m ruff format --check $(wildcard src tests benchmarks examples)

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Every benchmark that runs on this machine (gpu_check.py is for a CUDA machine).
BENCHMARKS := recorder attribution synthesis synthesis_lucent probe probe_resnet50 probe_dask explorer dashboard cli_start

bench: install
	for b in $(BENCHMARKS); do $(PY) benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) demo-runs .pytest_cache
