# Two commands on a fresh machine: `make demo` (set up + run the app) and `make test` (set up + run the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := chromium ffmpeg

.PHONY: demo test bench evaluate evaluate-unseen evaluate-emobox train setup setup-dev system clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt requirements-scale.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev system

# Debian packages: Chromium for the browser tests, ffmpeg for m4a/webm/aac. Installed only when missing.
system:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; fi; fi

demo: $(VENV)/.installed
	GRADIO_ANALYTICS_ENABLED=False $(PY) app.py

test: setup-dev
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest -q tests

bench: setup-dev
	$(PY) -m bench.run

evaluate: setup-dev
	$(PY) -m train.evaluation.evaluate

# the README's unseen-corpus table (leave one corpus out) and the rows on EmoBox's RAVDESS folds
evaluate-unseen: setup-dev
	$(PY) -m train.evaluation.evaluate --models loco

evaluate-emobox: setup-dev
	$(PY) -m train.evaluation.evaluate --models emobox

clean:
	rm -rf $(VENV) test-output .pytest_cache
