"""The committed kerb radar model's figures on held-out data, without TensorFlow.

    .venv/bin/python -m training.evaluate_radar_model [--count 4000] [--band] [--cache DIR]

Generates (or reads from ``--cache``) the held-out windows the metadata names (seed and ranges),
runs the model through the agent's own loader and prints the figures beside the ones recorded
in ``radar_kerb.json``: the command that reproduces them on any machine with the project
installed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import DEFAULT_MODEL, LABELS, RadarModel
from simulator.training_data import Dataset
from training.radar_dataset import HELD_OUT_COUNT, HELD_OUT_SEED, band_mode, load_or_generate
from training.radar_evaluation import TARGETS, figures, format_figures, predict_all


def breakdown(
    scores: npt.NDArray[np.float32],
    speeds: npt.NDArray[np.float32],
    data: Dataset,
    thresholds: Mapping[str, float],
) -> list[str]:
    """Where the errors are: windows with one target against several, and the mean child and
    adult probabilities of one walking or running person by cos(aspect) (radial / ground
    speed: the radar sees v cos(aspect), never v)."""
    said = scores >= np.array([thresholds[label] for label in LABELS])
    single = np.array([len(targets) == 1 for targets in data.targets])
    lines = ["speed error (km/h) of labels present and detected, one target vs several:"]
    for i, label in enumerate(LABELS):
        hit = said[:, i] & data.present[:, i]
        error = np.abs(speeds[:, i] - data.radial_mps[:, i]) * 3.6
        parts = []
        for name, rows in (("one target", hit & single), ("several", hit & ~single)):
            if rows.any():
                parts.append(
                    f"{name} p50 {np.percentile(error[rows], 50):.2f} "
                    f"p95 {np.percentile(error[rows], 95):.2f} (n={int(rows.sum())})"
                )
        recall = (
            said[single & data.present[:, i], i].mean()
            if (single & data.present[:, i]).any()
            else float("nan")
        )
        lines.append(f"  {label:16} " + "; ".join(parts) + f"; recall with one target {recall:.3f}")
    lines.append("one person alone: mean p(child) / p(adult) by cos(aspect)")
    people = [
        (targets[0].label, abs(targets[0].radial_mps) / max(targets[0].speed_mps, 1e-6), i)
        for i, targets in enumerate(data.targets)
        if len(targets) == 1 and targets[0].label in ("child", "adult")
    ]
    for lo, hi in ((0.0, 0.8), (0.8, 0.95), (0.95, 1.01)):
        for label in ("child", "adult"):
            rows = [i for name, cos, i in people if name == label and lo <= cos < hi]
            if rows:
                lines.append(
                    f"  cos {lo:.2f}-{min(hi, 1.0):.2f} {label:5} n {len(rows):4d}  "
                    f"p(child) {scores[rows, 0].mean():.2f}  p(adult) {scores[rows, 1].mean():.2f}"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--count", type=int, default=HELD_OUT_COUNT)
    parser.add_argument("--band", action="store_true", help="as band-mode (B) lines give them")
    parser.add_argument("--cache", type=Path, default=None, help="windows cache (.npz)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--breakdown", action="store_true",
        help="also: speed error with one target vs several, children and adults by aspect "
        "(regenerates the windows: the cache holds no per-target truth)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    model = RadarModel.load(args.model, sampling_rate_hz=20000)
    data = load_or_generate(
        None if args.breakdown else args.cache,
        seed=HELD_OUT_SEED, count=args.count, held_out=True, workers=args.workers,
    )  # fmt: skip
    codes = band_mode(data.codes) if args.band else data.codes
    started = time.monotonic()
    scores, speeds = predict_all(model.predict, codes)
    took = time.monotonic() - started
    result = figures(
        scores, speeds, data.present, data.radial_mps, model.thresholds,
        margins=model.verdict_margins,
    )  # fmt: skip
    mode = "band" if args.band else "full"
    print(f"{model.describe()}, held-out seed {HELD_OUT_SEED}, {mode} spectrum lines "
          f"({took / len(codes) * 1000:.2f} ms a window)")  # fmt: skip
    print("\n".join(format_figures(result)))
    if args.breakdown:
        print("\n".join(breakdown(scores, speeds, data, model.thresholds)))
    recorded = json.loads(args.model.with_suffix(".json").read_text())["evaluation"]
    key = f"held_out_{mode}"
    if key in recorded and recorded[key]["windows"] == len(codes):
        print("recorded in the metadata:")
        for name in TARGETS:
            print(f"  {name:22} {recorded[key][name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
