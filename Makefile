# bucketscore: the commands people type. Every target uses the virtualenv in .venv/.
# `make help` lists them.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

DEMO_MODEL := models/digits
DEMO_DATA  := demo_data/digits

BUCKET ?=
MODEL  ?= $(DEMO_MODEL)
OUTPUT ?= results/
LABELS ?= folder
ARGS   ?=
RUN    ?=
DATA   ?=
OUT    ?=
ARCH   ?= lenet
DOWNLOAD_DIR ?= results
PYTEST_ARGS ?=
BENCH_ARGS ?=
TEMPLATE ?=

.DEFAULT_GOAL := help
.PHONY: help setup demo score test download train tune template bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: BUCKET=URI MODEL=URI OUTPUT=URI LABELS=folder|regex:P|csv:URI|none"
	@echo "             ARGS='extra bucketscore/Beam flags' RUN=<run uri> (download)"

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,test]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install bucketscore with its test tools

demo: $(STAMP) ## train the demo model (if missing) and write the demo images
	$(BIN)/bucketscore demo --model $(DEMO_MODEL) --data $(DEMO_DATA)

score: $(STAMP) ## score the demo, or BUCKET=URI [MODEL=URI] [OUTPUT=URI] [LABELS=...] [ARGS=...]
ifeq ($(strip $(BUCKET)),)
	$(BIN)/bucketscore demo --model $(DEMO_MODEL) --data $(DEMO_DATA)
	$(BIN)/bucketscore score --input $(DEMO_DATA)/ --model $(DEMO_MODEL) --output $(OUTPUT) $(ARGS)
else
	@if [ "$(MODEL)" = "$(DEMO_MODEL)" ]; then $(BIN)/bucketscore demo --model $(DEMO_MODEL) --data $(DEMO_DATA); fi
	$(BIN)/bucketscore score --input $(BUCKET) --model $(MODEL) --output $(OUTPUT) --labels '$(LABELS)' $(ARGS)
endif

test: $(STAMP) ## run the whole test suite (starts its own S3 and GCS servers)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

download: $(STAMP) ## copy a run's CSV/JSON results to ./results/<run_id>/: RUN=<run uri> [ARGS=...]
	@if [ -z "$(RUN)" ]; then echo "usage: make download RUN=<output>/<run_id>/" >&2; exit 2; fi
	$(BIN)/bucketscore download $(RUN) $(DOWNLOAD_DIR) $(ARGS)

train: $(STAMP) ## train a bundle: DATA=URI OUT=URI [ARCH=lenet|small_cnn|mobilenet_v2|...] [ARGS=...]
	@if [ -z "$(DATA)" ] || [ -z "$(OUT)" ]; then echo "usage: make train DATA=<labelled prefix> OUT=<bundle uri> [ARCH=...] [ARGS=...]" >&2; exit 2; fi
	$(BIN)/bucketscore train --data $(DATA) --out $(OUT) --architecture $(ARCH) $(ARGS)

tune: $(STAMP) ## tune hyperparameters (KerasTuner): DATA=URI OUT=URI [ARCH=...] [ARGS='--trials 10 ...']
	@if [ -z "$(DATA)" ] || [ -z "$(OUT)" ]; then echo "usage: make tune DATA=<labelled prefix> OUT=<bundle uri> [ARCH=...] [ARGS=...]" >&2; exit 2; fi
	$(BIN)/bucketscore tune --data $(DATA) --out $(OUT) --architecture $(ARCH) $(ARGS)

template: $(STAMP) ## build a classic Dataflow template: TEMPLATE=gs://... MODEL=URI ARGS='--project P --region R --temp_location gs://...'
	@if [ -z "$(TEMPLATE)" ] || [ "$(MODEL)" = "$(DEMO_MODEL)" ]; then echo "usage: make template TEMPLATE=gs://<bucket>/templates/<name>.json MODEL=<bundle uri> ARGS='--project P --region R --temp_location gs://<bucket>/tmp [--staging_location ...] [--output gs://...]'" >&2; exit 2; fi
	$(BIN)/bucketscore score --model $(MODEL) --template_location $(TEMPLATE) --runner DataflowRunner --setup_file ./setup.py --labels '$(LABELS)' $(ARGS)

bench: $(STAMP) ## throughput and memory benchmark, never part of make test: [BENCH_ARGS='--n 4000']
	$(BIN)/python -m benchmarks.run_bench $(BENCH_ARGS)

clean: ## remove the demo model, demo images and local results (keeps .venv)
	rm -rf $(DEMO_MODEL) $(DEMO_DATA) results
