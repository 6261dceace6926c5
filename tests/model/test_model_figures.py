"""CI does not retrain: it checks that the committed model still earns the figures recorded in
its metadata, on held-out windows generated afresh from the simulator (the first windows of the
held-out seed, with the held-out ranges), and that it stays small."""

from __future__ import annotations

import hashlib
import json

import pytest

from pole_agent.perception.radar_model import DEFAULT_MODEL, RadarModel
from simulator.training_data import SceneRanges, generate_dataset
from tests.model.helpers import SHIPPED_META
from training.radar_dataset import MODEL_SPEC, several_targets
from training.radar_evaluation import figures, predict_all

META = json.loads(SHIPPED_META.read_text())


def test_the_committed_model_still_earns_its_recorded_figures() -> None:
    check = META["evaluation"]["ci_check"]
    data = generate_dataset(
        check["count"], seed=check["seed"], ranges=SceneRanges.held_out(), spec=MODEL_SPEC,
        start=check["start"], workers=2,
    )  # fmt: skip
    model = RadarModel.load(DEFAULT_MODEL, sampling_rate_hz=MODEL_SPEC.sampling_rate_hz)
    scores, speeds = predict_all(model.predict, data.codes)
    got = figures(
        scores, speeds, data.present, data.radial_mps, model.thresholds,
        margins=model.verdict_margins, several=several_targets(data),
    )  # fmt: skip
    recorded = check["figures"]
    for key in ("child_recall", "adult_as_child", "person_vs_vehicle"):
        assert got[key] == pytest.approx(recorded[key], abs=0.01), key
    assert got["speed_error_p95_kmh"] == pytest.approx(recorded["speed_error_p95_kmh"], abs=0.2)
    for scene, row in recorded["speed_error_by_scene"].items():
        assert got["speed_error_by_scene"][scene]["p95_kmh"] == pytest.approx(
            row["p95_kmh"], abs=0.2
        ), scene
    for label, row in recorded["per_label"].items():
        for key in ("precision", "recall"):
            assert got["per_label"][label][key] == pytest.approx(row[key], abs=0.01), (label, key)
    flat = [count for row in got["confusion"]["counts"] for count in row]
    expected = [count for row in recorded["confusion"]["counts"] for count in row]
    assert flat == pytest.approx(expected, abs=8)


def test_the_metadata_describes_the_committed_file_honestly() -> None:
    data = DEFAULT_MODEL.read_bytes()
    assert len(data) < 200 * 1024
    assert META["model_sha256"] == hashlib.sha256(data).hexdigest()
    assert META["model_bytes"] == len(data)
    assert "simulated" in META["statement"] and "simulated" in META["evaluation"]["statement"]
    for mode in ("held_out_full", "held_out_band"):
        result = META["evaluation"][mode]
        assert result["windows"] == META["training"]["held_out"]["windows"]
        assert set(result["per_label"]) == set(META["labels"])
    assert META["training"]["time_s"]["total"] > 0
    assert len(META["training"]["data_sha256"]) == 64
