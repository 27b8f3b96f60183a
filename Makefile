# talkface_lite: self-installing entry points. Needs only python3 (>= 3.9) and pip.
#   make reproduce             run every notebook (QUICK, CPU) -> build/notebooks, figures/
#   make reproduce QUICK=False DEVICE=cuda   paper scale on a GPU
#   make test                  lint + format check, unit tests + nbval over notebooks/
#   make test-browser          the notebooks' sliders in JupyterLab + Chromium (Playwright)
#   make lab                   JupyterLab on the project kernel
PYTHON ?= python3
VENV   ?= .venv
QUICK  ?= True
DEVICE ?= auto
EXTRAS ?= dev,video,blink
KERNEL := talkface-lite
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.talkface-installed-$(EXTRAS)
NB     ?=
NBVAL  := --nbval-lax --nbval-kernel-name $(KERNEL) --nbval-sanitize-with notebooks/nbval_sanitize.cfg
# Tests write figures to a scratch folder so they never touch the committed figures/; their kernels are
# headless (no widgets, text progress bars: talkface_lite/widgets.py).
TEST_ENV := TALKFACE_FIGURES=$(CURDIR)/build/test-figures MPLBACKEND=Agg TALKFACE_HEADLESS=1

.PHONY: help install reproduce test test-browser unit lint format nbval notebook notebooks lab bench gpu-check doctor clean

help:
	@sed -n '2,7p' Makefile

$(STAMP): pyproject.toml tools/bootstrap.py
	$(PYTHON) tools/bootstrap.py --venv $(VENV) --extras $(EXTRAS)
	@touch $@

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/talkface-lite reproduce --quick $(QUICK) --device $(DEVICE) --kernel $(KERNEL)

test: lint
	$(TEST_ENV) $(BIN)/python -m pytest tests notebooks --ignore=tests/browser $(NBVAL)

# ruff, configured in pyproject.toml: `make lint` checks (run by make test), `make format` rewrites.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest tests --ignore=tests/browser

# make test-browser [TALKFACE_BROWSER_SHOTS=figures/browser] : every notebook with a slider, Run All in JupyterLab
# (127.0.0.1) in Debian's chromium driven by Playwright, then a slider dragged (tests/browser/test_jupyterlab.py).
# Installs the browser extra and chromium (apt-get) first. Screenshots and run times: build/browser/.
test-browser:
	$(MAKE) install EXTRAS=$(EXTRAS),browser
	TALKFACE_BROWSER_TEST=1 $(BIN)/python -m pytest tests/browser -v -p no:cacheprovider

# make nbval NB=notebooks/03_triplane_nerf.ipynb   (default: all notebooks)
nbval: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest $(NBVAL) $(if $(NB),$(NB),notebooks)

# make notebook NB=notebooks/03_triplane_nerf.ipynb : execute in place, QUICK (to commit)
notebook: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make notebook NB=notebooks/NN_name.ipynb"; exit 2; }
	$(BIN)/talkface-lite reproduce --in-place --only $(NB) --kernel $(KERNEL)

notebooks: $(STAMP)
	$(BIN)/talkface-lite reproduce --in-place --kernel $(KERNEL)

# LAB_ARGS="--no-browser --ip 0.0.0.0 --port 8888" for a remote GPU server
LAB_ARGS ?=
lab:
	$(MAKE) install EXTRAS=dev,video,blink,lab
	$(BIN)/jupyter lab --notebook-dir notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b --device $(DEVICE) || exit 1; done

# make gpu-check [DRY_RUN=1] [OUT=dir] : the prepared GPU check (benchmarks/gpu_check.py). No install step:
# a bare GPU machine with torch, numpy, scipy, matplotlib and tqdm runs it from the checkout as it is.
GPU_PY = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
gpu-check:
	$(GPU_PY) benchmarks/gpu_check.py $(if $(filter 1 yes true True,$(DRY_RUN)),--dry-run) $(if $(OUT),--out $(OUT))

doctor: $(STAMP)
	$(BIN)/talkface-lite doctor

clean:
	rm -rf build .pytest_cache
