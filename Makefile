# espnet-echo: `make mini` runs the offline mini recipe end to end; `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv test mini bench codec
venv:
	bash tools/install.sh $(VENV)

test: venv
	$(PY) -m pytest -q test

mini: venv
	cd egs2/mini_mix/echo1 && ./run.sh

# JEPA + DAAM tokenizer (issue 16): train, encode/decode the test split, score beside Codec2/Opus
codec: venv
	cd egs2/mini_mix/codec1 && ./run.sh

bench: venv
	$(PY) bench/simulate_speed.py
