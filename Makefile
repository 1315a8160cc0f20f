# make run: callchat on this machine (with the local Twilio simulator unless TWILIO_ACCOUNT_SID is set);
#           .env overrides simulator/local.env, ports included (WEB_PORT, SIM_PORT, REDIS_PORT).
# make doctor: flask --app app doctor, with make run's settings: every check, one line each.
# make signin-link: a fresh one-time sign-in link for make run's local admin (make run prints one at start).
# make test: the whole test suite.
# make bench: the benchmarks of docs/benchmarks.md, printed as one table (about 15 minutes).
# make messages: extract the marked strings into translations/messages.pot and update the Japanese
#                catalog (then translate the new or fuzzy entries of translations/ja/LC_MESSAGES/messages.po).
# make translations: compile the catalogs (.mo, not committed); make run and make test do it first.
VENV := .venv
BIN := $(VENV)/bin
# The Python the pins are tested on (.python-version, which Heroku's buildpack reads too), else python3.
PYTHON ?= $(shell command -v python$$(cat .python-version) 2>/dev/null || echo python3)

.PHONY: run doctor signin-link test bench clean messages translations

# The compiled catalogs (callchat.i18n): one .mo per translated language, from its .po.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# make run's install: the runtime pins plus requirements-local.txt (embedded redis-server, honcho).
$(VENV)/.runtime: requirements.txt requirements-local.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-local.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-local.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(VENV)/.runtime
	$(BIN)/pybabel compile --directory translations --locale $* --statistics

translations: $(CATALOGS)

messages: $(VENV)/.runtime
	$(BIN)/pybabel extract --mapping-file babel.cfg --keyword stored --output-file translations/messages.pot \
		--no-location --no-wrap --sort-output --project callchat .
	$(BIN)/pybabel update --input-file translations/messages.pot --output-dir translations --no-wrap --ignore-obsolete

run: $(VENV)/.runtime $(CATALOGS)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m callchat.devstack run

doctor: $(VENV)/.runtime
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m callchat.devstack doctor

signin-link: $(VENV)/.runtime
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m callchat.devstack signin-link

test: $(VENV)/.dev $(CATALOGS)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

bench: $(VENV)/.dev
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance/*.aof instance/appendonlydir instance/dump.rdb instance/make-run.env
