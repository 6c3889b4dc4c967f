# Two entry points on a fresh machine: `make demo` (main job) and `make test` (test suite).
# Both create .venv/ and install everything on first use, including the Debian Fashion-MNIST package.
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test clean

setup: $(VENV)/.installed $(FASHION_MNIST)

$(FASHION_MNIST):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	PIP_NO_CACHE_DIR=1 $(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

demo: setup
	$(PY) examples/hub_eval.py

test: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
