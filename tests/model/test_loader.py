"""The loader refuses what it cannot use, each with a clear error: a missing file, a corrupt one,
bad metadata, and a specification that does not match the sensor's settings; the agent then
runs on speed only and says so on the HealthBoard (pole_agent/perception/radar_model.py,
kerb_model_setup.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.clock import ManualClock
from pole_agent.config import KerbModelConfig, RadarConfig, load_config
from pole_agent.perception.kerb_inference import HEALTH_NAME
from pole_agent.perception.radar_model import (
    DEFAULT_MODEL,
    CellSpec,
    ModelError,
    ModelSpecError,
    RadarModel,
    read_metadata,
)
from tests.integration.harness import SIM_CONFIG
from tests.model.helpers import SHIPPED_META, copy_model, edit_metadata


def _load(path: Path, rate: int = 20000) -> RadarModel:
    return RadarModel.load(path, sampling_rate_hz=rate)


def test_the_shipped_model_loads_and_classifies_a_window() -> None:
    model = _load(DEFAULT_MODEL)
    spec = model.spec
    assert model.model.runtime.name == "ai-edge-litert"
    assert model.model.inputs[0].dtype == np.int8
    noise = np.full((spec.frames, spec.bins), 40, np.uint8)  # the noise floor, nothing moving
    prediction = model.predict(noise)
    assert prediction.scores.shape == (4,) and prediction.present(model.thresholds) == ()
    with pytest.raises(ValueError, match="32 x 512"):
        model.predict(noise[:4])


def test_a_missing_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        _load(tmp_path / "radar_kerb.tflite")
    path = copy_model(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"metadata .*radar_kerb\.json is missing"):
        _load(path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "not_tflite"])
def test_a_corrupt_model_is_refused(tmp_path: Path, damage: str) -> None:
    path = copy_model(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        message = "corrupt or replaced"
    else:
        data = data[: len(data) // 3] if damage == "truncate" else bytearray(b"\0" * 64 + data)
        # The metadata vouches for the damaged bytes: the runtime's own checks must catch it.
        edit_metadata(path, model_sha256=hashlib.sha256(bytes(data)).hexdigest())
        message = (
            "could not be opened by ai-edge-litert"
            if damage == "truncate"
            else "not a TFLite model"
        )
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=message):
        _load(path)


def test_bad_metadata_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid"):
        _load(path)
    path = copy_model(tmp_path)
    edit_metadata(path, input__frames="many")
    with pytest.raises(ModelError, match=r"input\.frames"):
        _load(path)
    path = copy_model(tmp_path)
    edit_metadata(path, labels=["child", "adult", "car", "cyclist_scooter"])
    with pytest.raises(ModelError, match="labels"):
        _load(path)


def test_a_model_for_other_sensor_settings_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match=r"20000 Hz spectra.*set to 10000 Hz"):
        _load(DEFAULT_MODEL, rate=10000)
    path = copy_model(tmp_path)
    edit_metadata(path, input__fft_size=512)
    with pytest.raises(ModelSpecError, match="512-point FFTs, the sensor makes 1024"):
        _load(path)
    path = copy_model(tmp_path)
    edit_metadata(path, input__frames=16)  # metadata and tensors disagree
    with pytest.raises(ModelError, match=r"input tensors \[\[1, 32, 512, 1\]\]"):
        _load(path)


def test_outputs_the_metadata_does_not_describe_are_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    outputs = read_metadata(path.with_suffix(".json")).outputs.model_dump(mode="json")
    edit_metadata(path, outputs={**outputs, "cells": None})  # the file has a third tensor
    with pytest.raises(ModelError, match=r"metadata promises \[\[1, 4\], \[1, 4\]\]"):
        _load(path)
    edit_metadata(path, outputs={**outputs, "speed_index": outputs["presence_index"]})
    with pytest.raises(ModelError, match="output tensors"):
        _load(path)
    edit_metadata(path, outputs={**outputs, "cells": {**outputs["cells"], "count": 64}})
    with pytest.raises(ModelError, match=r"metadata promises .*\[1, 4, 64\]"):
        _load(path)
    edit_metadata(path, outputs={**outputs, "cells": {**outputs["cells"], "peak_labels": ["car"]}})
    with pytest.raises(ModelError, match=r"outputs\.cells\.peak_labels \['car'\]"):
        _load(path)


def test_the_peak_cell_speed_is_one_line_not_a_blend_of_two() -> None:
    cells = CellSpec(index=2, count=8, first_mps=-2.0, step_mps=0.5, peak_labels=("child",))
    # The head hesitates between a line at cell 1 (-1.5 m/s) and one at cell 6 (+1.0 m/s).
    probabilities = np.array([0.0, 0.5, 0.1, 0.0, 0.0, 0.1, 0.3, 0.0], np.float32)
    expected = float((probabilities * (-2.0 + 0.5 * np.arange(8))).sum())
    assert expected == pytest.approx(-0.5)  # on neither line
    assert cells.peak_speed(probabilities) == pytest.approx((0.5 * -1.5 + 0.1 * -1.0) / 0.6)
    assert cells.peak_speed(np.eye(8, dtype=np.float32)[7]) == pytest.approx(1.5)  # edge cell
    assert cells.peak_speed(np.zeros(8, np.float32)) == pytest.approx(-2.0)  # nothing: no NaN


def _agent_config(tmp_path: Path, kerb: RadarConfig, model: KerbModelConfig):  # type: ignore[no-untyped-def]
    base = load_config(SIM_CONFIG)
    radars = base.radars.model_copy(update={"kerb": kerb})
    return base.model_copy(
        update={
            "radars": radars,
            "kerb_model": model,
            "outputs": base.outputs.model_copy(update={"pin_factory": "mock"}),
            "state_dir": tmp_path / "state",
            "mqtt": None,
        }
    )


@pytest.mark.parametrize("problem", ["missing", "corrupt", "mismatch"])
def test_the_agent_runs_on_speed_only_and_says_why(tmp_path: Path, problem: str) -> None:
    path = copy_model(tmp_path)
    rate = 20000
    if problem == "missing":
        path.unlink()
    elif problem == "corrupt":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        rate = 10000
    kerb = RadarConfig(port="/dev/null-kerb", sample_rate_hz=rate, spectrum="full")
    config = _agent_config(tmp_path, kerb, KerbModelConfig(path=path))
    agent = build_agent(config, ManualClock(), pin_factory=MockFactory(pin_class=MockPWMPin))
    health = agent.health.get(HEALTH_NAME)
    assert agent.kerb_model is None and agent.kerb_frames is not None
    assert [c.name for c in agent.components if c.name.startswith("kerb")] == ["kerb radar"]
    assert health is not None and health.state == "failed"
    assert str(path) in health.reason and "running on speed only" in health.reason
    assert {"missing": "missing", "corrupt": "corrupt", "mismatch": "10000 Hz"}[problem] in (
        health.reason
    )
    assert agent.pipeline is not None  # the road radar's warning path is built as ever


def test_the_agent_runs_the_shipped_model_with_a_kerb_radar(tmp_path: Path) -> None:
    config = _agent_config(
        tmp_path, RadarConfig(port="/dev/null-kerb", spectrum="full"), KerbModelConfig()
    )
    agent = build_agent(config, ManualClock(), pin_factory=MockFactory(pin_class=MockPWMPin))
    assert agent.kerb_model is not None
    assert "kerb model" in [c.name for c in agent.components]
    birth = json.loads(agent.reporter.online())
    version = json.loads(SHIPPED_META.read_text())["version"]
    assert birth["models"] == [{"name": "radar_kerb", "version": version}]
    disabled = _agent_config(
        tmp_path,
        RadarConfig(port="/dev/null-kerb", spectrum="full"),
        KerbModelConfig(enabled=False),
    )
    agent = build_agent(disabled, ManualClock(), pin_factory=MockFactory(pin_class=MockPWMPin))
    assert agent.kerb_model is None and agent.health.get(HEALTH_NAME) is None


def test_a_kerb_radar_not_told_to_send_spectra_is_a_clear_start_up_error(tmp_path: Path) -> None:
    config = _agent_config(tmp_path, RadarConfig(port="/dev/null-kerb"), KerbModelConfig())
    agent = build_agent(config, ManualClock(), pin_factory=MockFactory(pin_class=MockPWMPin))
    health = agent.health.get(HEALTH_NAME)
    assert agent.kerb_model is None and agent.pipeline is not None
    assert health is not None and health.state == "failed"
    assert "radars.kerb.spectrum is 'off'" in health.reason


def test_the_example_pole_config_fits_the_shipped_model() -> None:
    example = load_config(Path(__file__).parents[2] / "deploy" / "config" / "pole.example.toml")
    assert example.radars.kerb is not None and example.kerb_model.enabled
    assert example.radars.kerb.spectrum != "off"
    model = RadarModel.load(DEFAULT_MODEL, sampling_rate_hz=example.radars.kerb.sample_rate_hz)
    assert model.spec.sampling_rate_hz == example.radars.kerb.sample_rate_hz
