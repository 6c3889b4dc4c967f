# Two entry points on a fresh machine: `make demo` (main job) and `make test` (the test suite on the pinned
# SpikingJelly 0.0.0.0.14, then the SpikingJelly-facing tests again on 2.x).
# Both create .venv/ and install everything on first use, including the Debian Fashion-MNIST package.
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

SJ2_VENV ?= .venv-sj2
# pytest-xdist workers: one per core (tests/conftest.py gives each one thread), each test file on one worker
# (its module fixtures built once; the reliability table sees all its file's cases); 0: one process.
# --durations: the log names the slowest tests, so the suite's time budget (15 minutes with set-up) stays visible
TEST_WORKERS ?= auto
# waiting OpenMP threads sleep rather than spin, so the suite keeps its pace beside other work (zoo/runtime.py)
export OMP_WAIT_POLICY ?= PASSIVE
SJ2_PY := $(SJ2_VENV)/bin/python
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# the tests that run again on SpikingJelly 2.x: everything that builds, runs, loads or exports neurons
SJ2_TESTS := tests/test_neurons.py tests/test_fused_neurons.py tests/test_models.py tests/test_sew_resnet.py \
	tests/test_plif_net.py tests/test_static_stem.py tests/test_nir.py tests/test_shipped.py tests/test_rsnn.py \
	tests/test_ltsnn_neuron.py tests/test_ssgd.py tests/test_relpsp.py tests/test_hub.py tests/test_gradients.py \
	tests/test_spikformer.py

.PHONY: setup demo test test-pinned test-sj2 test-gpu docs clean

setup: $(VENV)/.installed $(FASHION_MNIST)

$(FASHION_MNIST):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	PIP_NO_CACHE_DIR=1 $(PY) -m pip install -q --disable-pip-version-check -e '.[test]' -c constraints/pinned.txt
	touch $@

# SpikingJelly 2.x over the same packages: a venv that sees .venv's site-packages after its own, so only
# SpikingJelly 2.x and what it adds are installed (and shadow 0.0.0.0.14)
$(SJ2_VENV)/.installed: $(VENV)/.installed
	test -x $(SJ2_PY) || $(PY) -m venv $(SJ2_VENV)
	echo 'import site; site.addsitedir("$(SITE)")' > "$$($(SJ2_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zoo-main-venv.pth"
	PIP_NO_CACHE_DIR=1 $(SJ2_PY) -m pip install -q --disable-pip-version-check 'spikingjelly[nir]' -c constraints/spikingjelly2.txt
	touch $@

demo: setup
	$(PY) examples/hub_eval.py

test: test-pinned test-sj2

test-pinned: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

test-sj2: setup $(SJ2_VENV)/.installed
	$(SJ2_PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -p no:cacheprovider --durations=10 $(SJ2_TESTS)

# on a CUDA machine: CuPy against torch kernels (neurons, whole networks, shipped weights), then their speed
test-gpu: setup
	PIP_NO_CACHE_DIR=1 $(PY) -m pip install -q --disable-pip-version-check -e '.[cuda]' -c constraints/pinned.txt
	$(PY) -m pytest -p no:cacheprovider -rs tests/test_backend_gpu.py
	$(PY) -m zoo bench --suite backend --device cuda

# the documentation site (Material for MkDocs) into site/; the tests build it with --strict too
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) $(SJ2_VENV) .pytest_cache site
