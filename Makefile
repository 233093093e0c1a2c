# bucketscore: the commands people type. Every target uses the virtualenv in .venv/.
# `make help` lists them.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# The exact versions the suite passed with (make lock writes it); CONSTRAINTS= installs the
# newest versions instead (to refresh the lock: see README, "Installs that match the tests").
LOCK    := constraints.txt
CONSTRAINTS ?= $(LOCK)
# Recipes that take ARGS print themselves through this (secret flag values as ***) and run
# silently: make itself would echo --s3_secret_access_key values into terminals and CI logs.
ECHO_REDACTED = @$(BIN)/python -m bucketscore.pipelines.redaction

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
ARCH   ?=
DOWNLOAD_DIR ?= downloads
PYTEST_ARGS ?=
BENCH_ARGS ?=
TEMPLATE ?=

.DEFAULT_GOAL := help
.PHONY: help setup lock lint demo score test download train tune template bench bench-gpu bench-int8 bench-listing bench-cost bench-serve bench-label-checks clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: BUCKET=URI MODEL=URI OUTPUT=URI LABELS=folder|regex:P|csv:URI|none"
	@echo "             ARGS='extra bucketscore/Beam flags' RUN=<run uri> (download)"

$(STAMP): setup.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# setuptools warns on every editable install that folders named like the package may
	@# shadow it: not news here (setup.py maps the folders), and noise on a first `make score`.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[train,test,torch,serve]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install bucketscore with its test tools (versions: constraints.txt)

lock: $(STAMP) ## write constraints.txt from the versions installed in .venv (after make test passed)
	$(BIN)/python .ci/write_constraints.py $(LOCK)
	@touch $(STAMP)  # .venv is what the new lock says: no reinstall for it

demo: $(STAMP) ## train the demo model (if missing) and write the demo images
	$(BIN)/bucketscore demo --model $(DEMO_MODEL) --data $(DEMO_DATA)

score: $(STAMP) ## score the demo, or BUCKET=URI [MODEL=URI] [OUTPUT=URI] [LABELS=...] [ARGS=...]
ifeq ($(strip $(BUCKET)),)
	$(BIN)/bucketscore demo --model $(DEMO_MODEL) --data $(DEMO_DATA)
	$(ECHO_REDACTED) $(BIN)/bucketscore score --input $(DEMO_DATA)/ --model $(DEMO_MODEL) --output $(OUTPUT) $(ARGS)
	@$(BIN)/bucketscore score --input $(DEMO_DATA)/ --model $(DEMO_MODEL) --output $(OUTPUT) $(ARGS)
else
	@if [ "$(MODEL)" = "$(DEMO_MODEL)" ]; then $(BIN)/bucketscore demo --model $(DEMO_MODEL) --data $(DEMO_DATA); fi
	$(ECHO_REDACTED) $(BIN)/bucketscore score --input $(BUCKET) --model $(MODEL) --output $(OUTPUT) --labels '$(LABELS)' $(ARGS)
	@$(BIN)/bucketscore score --input $(BUCKET) --model $(MODEL) --output $(OUTPUT) --labels '$(LABELS)' $(ARGS)
endif

lint: $(STAMP) ## ruff: lint and format check (settings: pyproject.toml); make test runs it first
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) lint ## lint, then the whole test suite (starts its own S3 and GCS servers)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

download: $(STAMP) ## copy a run's CSV/JSON/HTML results to ./downloads/<run_id>/: RUN=<run uri> [ARGS=...]
	@if [ -z "$(RUN)" ]; then echo "usage: make download RUN=<output>/<run_id>/" >&2; exit 2; fi
	$(ECHO_REDACTED) $(BIN)/bucketscore download $(RUN) $(DOWNLOAD_DIR) $(ARGS)
	@$(BIN)/bucketscore download $(RUN) $(DOWNLOAD_DIR) $(ARGS)

train: $(STAMP) ## train a bundle: DATA=URI OUT=URI [ARCH=small_cnn (train's default)|lenet|mobilenet_v2|...] [ARGS=...]
	@if [ -z "$(DATA)" ] || [ -z "$(OUT)" ]; then echo "usage: make train DATA=<labelled prefix> OUT=<bundle uri> [ARCH=...] [ARGS=...]" >&2; exit 2; fi
	$(ECHO_REDACTED) $(BIN)/bucketscore train --data $(DATA) --out $(OUT) $(if $(ARCH),--architecture $(ARCH)) $(ARGS)
	@$(BIN)/bucketscore train --data $(DATA) --out $(OUT) $(if $(ARCH),--architecture $(ARCH)) $(ARGS)

tune: $(STAMP) ## tune hyperparameters (KerasTuner): DATA=URI OUT=URI [ARCH=...] [ARGS='--trials 10 ...']
	@if [ -z "$(DATA)" ] || [ -z "$(OUT)" ]; then echo "usage: make tune DATA=<labelled prefix> OUT=<bundle uri> [ARCH=...] [ARGS=...]" >&2; exit 2; fi
	$(ECHO_REDACTED) $(BIN)/bucketscore tune --data $(DATA) --out $(OUT) $(if $(ARCH),--architecture $(ARCH)) $(ARGS)
	@$(BIN)/bucketscore tune --data $(DATA) --out $(OUT) $(if $(ARCH),--architecture $(ARCH)) $(ARGS)

template: $(STAMP) ## build a classic Dataflow template: TEMPLATE=gs://... MODEL=URI ARGS='--project P --region R --temp_location gs://...'
	@if [ -z "$(TEMPLATE)" ] || [ "$(MODEL)" = "$(DEMO_MODEL)" ]; then echo "usage: make template TEMPLATE=gs://<bucket>/templates/<name>.json MODEL=<bundle uri> ARGS='--project P --region R --temp_location gs://<bucket>/tmp [--staging_location ...] [--output gs://...]'" >&2; exit 2; fi
	$(ECHO_REDACTED) $(BIN)/bucketscore score --model $(MODEL) --template_location $(TEMPLATE) --runner DataflowRunner --setup_file ./setup.py --labels '$(LABELS)' $(ARGS)
	@$(BIN)/bucketscore score --model $(MODEL) --template_location $(TEMPLATE) --runner DataflowRunner --setup_file ./setup.py --labels '$(LABELS)' $(ARGS)

bench: $(STAMP) ## throughput and memory benchmark, never part of make test: [BENCH_ARGS='--n 4000']
	$(BIN)/python -m benchmarks.run_bench $(BENCH_ARGS)

bench-gpu: $(STAMP) ## GPU decode+inference benchmark (skips the GPU parts without one): [BENCH_ARGS=...]
	$(BIN)/python -m benchmarks.gpu $(BENCH_ARGS)

bench-int8: $(STAMP) demo ## fp32 vs int8 (quantize) on ONNX Runtime, 1 thread: MobileNetV2, ResNet-50 (random and trained on digits), the demo: [BENCH_ARGS=...]
	$(BIN)/python -m benchmarks.int8_bench $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.int8_trained_resnet

bench-listing: $(STAMP) ## listing benchmark, 10k/100k/1M objects, local + S3: [BENCH_ARGS='--sizes 10000 --incremental 100000']
	$(BIN)/python -m benchmarks.listing_bench $(BENCH_ARGS)

bench-serve: $(STAMP) ## bucketscore serve: requests/s, p50/p99 latency, 1 and 16 images per request: [BENCH_ARGS=...]
	$(BIN)/python -m benchmarks.serve_bench $(BENCH_ARGS)

bench-label-checks: $(STAMP) ## suspect labels + duplicates: time and memory with and without: [BENCH_ARGS='--n 4000 --mem_n 40000']
	$(BIN)/python -m benchmarks.label_checks_bench $(BENCH_ARGS)

bench-cost: $(STAMP) ## what 1M and 100M images cost on Dataflow, from the latest bench results: [BENCH_ARGS=...]
	$(BIN)/python -m benchmarks.dataflow_cost $(BENCH_ARGS)

clean: ## remove the demo model, demo images and local results (keeps .venv and downloads/)
	rm -rf $(DEMO_MODEL) $(DEMO_DATA) results
