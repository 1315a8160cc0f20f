# make run: callchat on this machine (with the local Twilio simulator unless TWILIO_ACCOUNT_SID is set).
# make test: the whole test suite.
# make bench: the benchmarks of docs/benchmarks.md, printed as one table (about 13 minutes).
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
TWILIO_ACCOUNT_SID ?= $(shell sed -n 's/^TWILIO_ACCOUNT_SID=//p' .env 2>/dev/null)

.PHONY: run test bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	@mkdir -p instance
ifeq ($(strip $(TWILIO_ACCOUNT_SID)),)
	@echo "No TWILIO_ACCOUNT_SID set: running against the local Twilio simulator."
	@echo "  Chat page:             http://127.0.0.1:5000/rooms/"
	@echo "  Simulator phone page:  http://127.0.0.1:5100/"
	@echo "Press Ctrl-C to stop."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile.dev -e .env,simulator/local.env start
else
	@echo "Using the Twilio account $(TWILIO_ACCOUNT_SID). Chat page: http://127.0.0.1:5000/rooms/"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile.dev start web worker redis
endif

test: $(VENV)/.dev
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

bench: $(VENV)/.dev
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance/*.aof instance/appendonlydir instance/dump.rdb
