# emostream: the two commands of the README are `make demo` and `make test`; the rest are their parts.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo model test stack-up stack-down bench clean

setup: $(VENV)/.installed            ## system packages (if missing) + project venv

$(VENV)/.installed: pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-cache-dir --upgrade pip
	$(BIN)/pip install -q --no-cache-dir -e '.[train,dev]'
	touch $@

demo: setup                          ## the main job: the whole pipeline on the local stack
	$(BIN)/emostream demo

GOEMOTIONS := artifacts/data/goemotions
model: setup                         ## the reference bundle: real GoEmotions comments, trained, exported, streamed live
	$(BIN)/emostream data goemotions --out $(GOEMOTIONS)
	$(BIN)/emostream train --manifest $(GOEMOTIONS)/manifest.jsonl --out artifacts/bundles/goemotions \
	  --word-vectors spacy-md --max-words 48 --checkpoint-dir artifacts/checkpoints/goemotions
	$(BIN)/emostream demo --bundle artifacts/bundles/goemotions/latest --manifest $(GOEMOTIONS)/manifest.jsonl

test: setup                          ## lint, the unit tier (seconds), then every test against real Kafka/Redis/Triton
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest tests/unit
	$(BIN)/pytest --ignore=tests/unit --durations=12

stack-up: setup
	$(BIN)/emostream stack up

stack-down:
	$(BIN)/emostream stack down

bench: setup                         ## benchmarks (print side-by-side ratios)
	$(BIN)/python -m bench

clean: stack-down
	rm -rf .stack artifacts
