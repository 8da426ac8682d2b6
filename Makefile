# Deep Learning II workbook: the menu. `make` alone prints it.
# Every target is a thin call into Python (`python -m workbook ...`), so the
# same steps work without make: see README.md, "Without make".

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

QUICK  ?= 0
SEED   ?= 0
DEVICE ?= auto
STRICT ?= 0
FORCE  ?= 0
PARTIAL ?= 0
BUILD_FLAGS := --quick=$(QUICK) --seed=$(SEED) --device=$(DEVICE)

# The environment remembers the folder it was set up for (in $(STAMP)): in a copied or moved
# workbook folder, `make setup` installs it again for this folder.
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(CURDIR))
.PHONY: $(STAMP)
endif

# The student edition has no instructor/ folder: its menu leaves out the instructors' targets.
MENU_FILTER := $(if $(wildcard instructor),cat,grep -v ' instructors: ')

.DEFAULT_GOAL := help
.PHONY: help setup data run pdf check blank zip lab test test-all bench release portability clean

help: ## show this menu
	@echo "Deep Learning II workbook. Usage: make <target> [QUICK=1] [SEED=0] [DEVICE=auto|cpu|cuda|mps]"
	@echo "  pdf and zip also take [PARTIAL=1] [STRICT=1]$(if $(wildcard instructor),; blank takes [FORCE=1])"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | $(MENU_FILTER) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv from the pinned requirements (no-op when they did not change)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.12 (or another 3.11+ interpreter)")'
	@$(PY) -c "" 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation --config-settings editable_mode=compat -e .
	$(PY) -m workbook configure-lab
	@echo "$(CURDIR)" > $(STAMP)
	@echo "environment ready: $(VENV) (kernel dl2-workbook)"

data: $(STAMP) ## rebuild data/mnist1d.npz from the mnist1d package and verify it matches (restores a broken file when the rebuild is byte-identical)
	$(PY) -m workbook data

run: $(STAMP) ## execute the notebooks (only those whose inputs changed) into build/executed/
	$(PY) -m workbook run $(BUILD_FLAGS)

check: $(STAMP) ## pre-submission check: every exercise filled, executed cleanly, every check PASS
	$(PY) -m workbook check $(BUILD_FLAGS)

pdf: $(STAMP) ## run, check and export everything into build/submission.pdf (PARTIAL=1: hand in what there is)
	$(PY) -m workbook pdf $(BUILD_FLAGS) --strict=$(STRICT) --partial=$(PARTIAL)

zip: $(STAMP) ## build/submission.zip: the PDF, the executed notebooks and SHA-256 checksums
	$(PY) -m workbook zip $(BUILD_FLAGS) --strict=$(STRICT) --partial=$(PARTIAL)

blank: $(STAMP) ## instructors: write the student copies (exercises blanked) to build/blank/
	$(PY) -m workbook blank --force=$(FORCE)

release: $(STAMP) ## instructors: the student workbook in build/release/ and build/release.zip
	$(PY) -m workbook release

lab: $(STAMP) ## start JupyterLab on 127.0.0.1 with the workbook kernel
	$(PY) -m workbook lab

test: $(STAMP) ## the fast tests (under a minute): units, checks, small builds
	$(PY) -m pytest -m "not slow and not e2e and not browser"

test-all: $(STAMP) ## every test: adds training, the real notebooks end to end, the browser
	$(PY) -m pytest

bench: $(STAMP) ## measure build and training speed; writes build/bench.json and build/bench.md
	$(PY) -m workbook bench

portability: $(STAMP) ## instructors: run the notebooks over CPU capabilities x seeds x threads; margins in build/portability.md
	$(PY) -m workbook portability

clean: ## remove build products (never notebooks, data or .venv)
	$(PYTHON) -c 'import shutil; shutil.rmtree("build", ignore_errors=True)'
