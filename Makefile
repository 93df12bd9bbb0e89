# make setup  -> .venv with torch, prl and its dependencies; Fashion-MNIST from Debian's package
# make dev    -> setup + the test / notebook / launcher extras
# make test   -> the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# the torch build this project is tested with; override e.g. TORCH="torch torchvision" elsewhere
TORCH  ?= torch==2.14.1 torchvision==0.29.1
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup dev test fashion-mnist

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

fashion-mnist:
	@if [ -f $(FMNIST)/train-images-idx3-ubyte.gz ]; then echo "Fashion-MNIST: $(FMNIST)"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get install -y -q dataset-fashion-mnist || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist; }; \
	else echo "No apt-get: run once with dataset.download=true to fetch Fashion-MNIST through torchvision"; fi

setup: $(BIN)/python fashion-mnist
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .

dev: setup
	$(BIN)/pip install -q -e '.[dev]'

test: dev
	WANDB_MODE=disabled WANDB_SILENT=true WANDB_ERROR_REPORTING=false $(BIN)/python -m pytest
