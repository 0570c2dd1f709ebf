# Entry points for the benchmark suite (README, "Benchmarks side by side").
PYTHON ?= .venv/bin/python
PEERS_VENV ?= .venv-peers

.PHONY: bench bench-quick bench-peers

# The published table: every part, both protocols, the peers when installed; rewrites
# benchmarks/results/bench_full.{md,json} and the README's benchmark section. Hours on 2 cores;
# finished runs are reused when run again (add ARGS=rerun=true to start over).
bench:
	$(PYTHON) -m benchmarks.run suite=full readme=true $(ARGS)

# Every part with tiny settings, to check the harness (minutes; the figures mean nothing).
bench-quick:
	$(PYTHON) -m benchmarks.run suite=quick $(ARGS)

# RecTools and RePlay in their own environment (their pins, numpy<2 and pandas<3, are not segue's).
bench-peers:
	python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install torch==2.13.0
	$(PEERS_VENV)/bin/pip install -r benchmarks/peers/requirements-rectools.txt -r benchmarks/peers/requirements-replay.txt
