# The two commands a newcomer needs (see README.md):
#   make lab    set everything up and open the course in JupyterLab
#   make test   set everything up and run every test (unit tests, nbval over every notebook, browser test)
# Everything else here is for course authors.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
# One torch thread for tests and notebooks: on a busy 2-core machine two OpenMP threads spin-wait
# for each other and a training loop runs 10-20x slower (see seglib.core.set_threads).
export OMP_NUM_THREADS ?= 1
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup lab test unit nbval browser-deps notebooks bench clean widgets7

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# Lesson 07's real nuclei tile is package data of the stardist wheel; --no-deps: the course reads
	# only its two image files (seglib.datasets.nuclei_tile), not numba or csbdeep.
	$(BIN)/python -m pip install --quiet --no-deps "stardist>=0.9"
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Headless Chromium for the browser test, from Debian's packages (no browser download).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser test..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "WARNING: could not install chromium; the browser test will be skipped (it fails under CI=true)."; \
	else echo "NOTE: /usr/bin/chromium not found and not root: the browser test will be skipped."; fi

test: setup browser-deps unit nbval

unit:
	$(BIN)/ruff check seglib tests benchmarks scripts notebooks
	$(BIN)/python -m pytest tests

# One notebook per core (each notebook keeps its cells in order in one kernel: --dist loadfile).
nbval:
	$(BIN)/python -m pytest -n auto --dist loadfile --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider notebooks -q

# The widgets' Python side under ipywidgets 7.7 (what Colab ships) as well as the venv's 8.x:
# ipywidgets 7 goes into a side folder put first on PYTHONPATH; the venv is left unchanged.
IPYW7 ?= build/ipywidgets7
widgets7: setup
	$(BIN)/python -m pip install --quiet --no-deps --target $(IPYW7) "ipywidgets==7.7.5" \
	  "widgetsnbextension~=3.6.0" "jupyterlab_widgets>=1.0,<2" ipython_genutils
	PYTHONPATH=$(IPYW7):$$PWD $(BIN)/python -c "import ipywidgets; assert ipywidgets.__version__.startswith('7.'), ipywidgets.__version__"
	PYTHONPATH=$(IPYW7):$$PWD $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_widget_transposed_conv.py tests/test_widgets_feature_maps.py tests/test_widget_unpooling.py

# Re-execute every notebook in place, in a fresh kernel, and print each one's run time.
notebooks: setup
	$(BIN)/python scripts/execute_notebooks.py notebooks/*.ipynb

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
