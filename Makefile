# make demo: set up, then play a whole demo session headless and write its reports.
# make test: set up, fetch the test photographs once (scripts/testdata.sh), then run every test (the tests start
# their own PulseAudio, Xvfb and SMTP server).
PY := .venv/bin/python

.PHONY: setup demo test clean
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) main.py demo --no-window

test: setup
	@bash scripts/testdata.sh
	$(PY) -m pytest -q tests

clean:
	rm -rf .venv sessions .pytest_cache
