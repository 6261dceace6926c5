# Project tasks that are not tests (scripts/test runs those).

PYTHON ?= .venv/bin/python
SOAK_FACTOR ?= 60

.PHONY: models soak bench

# The kerb radar model (docs/radar_model.md): generate the simulated windows (cached in
# .cache/radar_model), train, convert to full-int8 TFLite, evaluate on held-out data and write
# pole_agent/models/radar_kerb.tflite and radar_kerb.json; then choose the child / adult verdict
# margins on the int8 model (as shipped). Installs the train extra when missing.
models:
	@$(PYTHON) -c "import tensorflow" 2>/dev/null || .venv/bin/pip install -e ".[train]"
	$(PYTHON) -m training.train_radar_model --out pole_agent/models --cache .cache/radar_model
	$(PYTHON) -m training.recalibrate_radar_model --cache .cache/radar_model

# The soak (docs/performance.md): 24 simulated hours of a school day's traffic through the real
# agent at x60 (about 25 minutes), RSS/threads/fds sampled; fails unless flat and nothing lost;
# the result goes into docs/performance.md between its markers.
soak:
	@mkdir -p .cache
	$(PYTHON) -m bench.soak --hours 24 --factor $(SOAK_FACTOR) --json .cache/soak.json \
		--write-doc docs/performance.md

# Every benchmark, then ONE table (warning latency beside its floor, CPU and memory, model
# inference, spool, fleet, traffic scaling) printed as Markdown and written into
# docs/performance.md between its markers with the machine it ran on (about 7 minutes).
bench:
	$(PYTHON) -m bench --write-doc docs/performance.md
