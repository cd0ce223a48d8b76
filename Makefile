# Two commands a newcomer needs (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test browser-deps asterisk-deps metrics-deps

$(BIN)/hotline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/hotline

install: $(BIN)/hotline

# The main job on the embedded defaults: the bundled Whisper base model, SQLite in
# $$HOTLINE_HOME (default ~/.local/share/hotline), the demo calls in tests/data/calls.
demo: install
	$(BIN)/hotline demo

# Chromium for the browser test comes from Debian; without root or apt the browser test skips.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
		echo "chromium not installed: the browser test will be skipped"

# promtool (Debian `prometheus`) checks the /metrics exposition; without it that test skips.
metrics-deps:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) ; } || \
		echo "promtool not installed: the metrics exposition check will be skipped"

# Asterisk (Debian sid's, in a chroot cached outside the clone) for tests/server/test_asterisk.py;
# without root, apt or the Debian mirror that test skips.
asterisk-deps:
	@scripts/asterisk_chroot.sh || echo "Asterisk chroot not built: the Asterisk test will be skipped"

test: install browser-deps metrics-deps asterisk-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)
