# Project tasks that are not tests (scripts/test runs those).

PYTHON ?= .venv/bin/python

.PHONY: models

# The kerb radar model (docs/radar_model.md): generate the simulated windows (cached in
# .cache/radar_model), train, convert to full-int8 TFLite, evaluate on held-out data and write
# pole_agent/models/radar_kerb.tflite and radar_kerb.json. Installs the train extra when missing.
models:
	@$(PYTHON) -c "import tensorflow" 2>/dev/null || .venv/bin/pip install -e ".[train]"
	$(PYTHON) -m training.train_radar_model --out pole_agent/models --cache .cache/radar_model
