"""``pole-agent radar replay`` runs the kerb model on a recording's spectrum lines and prints
what it saw in each window, so the model can be checked on real captures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pole_agent.cli import main
from pole_agent.radar_tools import FORMAT, encode_line
from simulator.training_data import SceneRanges, generate_window
from tests.model.helpers import SHIPPED_META, frames_of, lines_of, shipped_spec
from training.radar_dataset import MODEL_SPEC

ONLY_CARS = SceneRanges(
    p_child=0.0, p_adult=0.0, p_vehicle=1.0, p_rider=0.0, p_second=0.0,
    vehicle_speed_kmh=(36.0, 36.0), aspect_deg=(0.0, 5.0), approaching_share=1.0,
    vehicle_range_m=(20.0, 25.0), azimuth_deg=(0.0, 0.0), bus_share=0.0,
)  # fmt: skip


def _recording(tmp: Path, rate: int = 20000) -> Path:
    spec = shipped_spec()
    codes = np.concatenate(
        [generate_window(i, seed=77, ranges=ONLY_CARS, spec=MODEL_SPEC).codes for i in range(2)]
    )
    path = tmp / "kerb.jsonl"
    head = {"format": FORMAT, "version": 1, "started": "2026-03-02T08:00:00+00:00",
            "model": "OPS243-A", "sample_rate_hz": rate, "mounting_angle_deg": 0.0}  # fmt: skip
    lines = lines_of(frames_of(codes, spec, t0=3.0))
    records = [encode_line(3.0 + i * spec.frame_s, line) for i, line in enumerate(lines)]
    path.write_text("\n".join([json.dumps(head), *records]) + "\n")
    return path


def test_replay_prints_what_the_model_saw_in_each_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["radar", "replay", str(_recording(tmp_path))]) == 0
    out = capsys.readouterr().out
    windows = [line for line in out.splitlines() if line.startswith("model ") and " s: " in line]
    assert len(windows) == 1 + (64 - 32) // 8  # 64 frames: the first full window, then each hop
    assert all("vehicle" in line.split("(")[0] for line in windows)
    assert "+36" in windows[-1] or "+35" in windows[-1] or "+37" in windows[-1]
    assert "64 spectra" in out
    version = json.loads(SHIPPED_META.read_text())["version"]
    assert f"radar_kerb {version} (ai-edge-litert" in out and "5 windows; child 0" in out


def test_replay_says_why_the_model_did_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["radar", "replay", str(_recording(tmp_path, rate=10000))]) == 0
    captured = capsys.readouterr()
    assert "model not run:" in captured.err and "10000 Hz" in captured.err
    assert "model not run:" in captured.out  # the summary line too
    assert main(["radar", "replay", "--no-model", str(_recording(tmp_path))]) == 0
    assert "model" not in capsys.readouterr().out
