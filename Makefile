# The two commands a user needs: `make demo` and `make test`. Both do all the set-up on a fresh
# machine: the client virtual environment (.venv), the server's own environment and the default
# models (under $VLLM_ACCEL_HOME, default ~/.cache/vllm-accel), prepared once and reused.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := langchain,llamaindex,cli,dev

.PHONY: demo test check lint typecheck generate generated setup venv prepare record bench clean

# uv makes .venv and installs into it: the same wheels, resolved as pip would over the indexes
# pip is configured with here (tests/support/uv_env.py reads them), in seconds instead of a
# minute. uv itself is bootstrapped once with pip into a small environment of the cache folder
# (next to the server's), reused by every clone; .venv still gets pip (`--seed`).
TOOLS := $(or $(VLLM_ACCEL_HOME),$(HOME)/.cache/vllm-accel)/uv-venv
UV := $(TOOLS)/bin/python tests/support/uv_env.py $(TOOLS)/bin/uv

$(TOOLS)/bin/uv:
	@rm -rf $(TOOLS).$$$$ && $(PYTHON) -m venv $(TOOLS).$$$$ \
	&& $(TOOLS).$$$$/bin/python -m pip install --disable-pip-version-check -qq 'uv>=0.5' \
	&& { mv -T $(TOOLS).$$$$ $(TOOLS) 2>/dev/null || rm -rf $(TOOLS).$$$$; }

$(VENV)/.ready: pyproject.toml | $(TOOLS)/bin/uv
	$(UV) venv -q --seed --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install -q --python $(PY) -e '.[$(EXTRAS)]'
	touch $@

venv: $(VENV)/.ready

prepare: venv
	$(PY) -m vllm_accel.server prepare

setup: prepare

demo: setup
	$(PY) examples/demo.py

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	@mkdir -p build/mypy && ln -sfn ../../core build/mypy/vllm_accel
	$(VENV)/bin/mypy -p vllm_accel
	$(VENV)/bin/mypy langchain_vllm_accel llamaindex_vllm_accel

# The sync client core/_sync/ is generated from the async one core/_async/ (docs/design.md).
generate: venv
	$(PY) tests/support/generate_sync.py

generated: venv
	$(PY) tests/support/generate_sync.py --check

check: generated lint typecheck

# `check` (ruff, mypy) runs beside pytest, while the first tests run and the live tier's servers
# boot (tests/support/early.py), instead of before it; either one failing fails `make test`.
# (Plain `make`, not $(MAKE): `make -n test` must not run this line, i.e. the whole suite.)
test: setup
	@mkdir -p build
	@make --no-print-directory check > build/check.log 2>&1 & check=$$!; \
	$(PY) -m pytest --durations=25; tests=$$?; \
	if wait $$check; then echo "make check: passed (log: build/check.log)"; \
	else cat build/check.log; echo "make check: FAILED"; exit 1; fi; exit $$tests

# Re-record the vcrpy cassettes of tests/recorded against the embedded server.
record: setup
	$(PY) -m pytest tests/recorded --record-mode=rewrite -p no:randomly

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) bench/.venv build .mypy_cache .ruff_cache
