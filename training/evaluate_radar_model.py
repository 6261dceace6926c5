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
from pathlib import Path

from pole_agent.perception.radar_model import DEFAULT_MODEL, RadarModel
from training.radar_dataset import (
    HELD_OUT_COUNT,
    HELD_OUT_SEED,
    band_mode,
    load_or_generate,
    several_targets,
    truths,
)
from training.radar_diagnosis import one_or_several, person_vehicle_errors, speed_sources
from training.radar_evaluation import TARGETS, figures, format_figures, predict_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--count", type=int, default=HELD_OUT_COUNT)
    parser.add_argument("--band", action="store_true", help="as band-mode (B) lines give them")
    parser.add_argument("--cache", type=Path, default=None, help="windows cache (.npz)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--breakdown", action="store_true",
        help="also: where the errors come from (training.radar_diagnosis)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    model = RadarModel.load(args.model, sampling_rate_hz=20000)
    data = load_or_generate(
        args.cache,
        seed=HELD_OUT_SEED, count=args.count, held_out=True, workers=args.workers,
    )  # fmt: skip
    codes = band_mode(data.codes) if args.band else data.codes
    started = time.monotonic()
    scores, speeds = predict_all(model.predict, codes)
    took = time.monotonic() - started
    result = figures(
        scores, speeds, data.present, data.radial_mps, model.thresholds,
        margins=model.verdict_margins, several=several_targets(data),
    )  # fmt: skip
    mode = "band" if args.band else "full"
    print(f"{model.describe()}, held-out seed {HELD_OUT_SEED}, {mode} spectrum lines "
          f"({took / len(codes) * 1000:.2f} ms a window)")  # fmt: skip
    print("\n".join(format_figures(result)))
    if args.breakdown:
        every = truths(data)
        for lines in (
            one_or_several(scores, speeds, data, every, model.thresholds),
            speed_sources(scores, speeds, data, every, model.thresholds),
            person_vehicle_errors(scores, data, every, model.thresholds),
        ):
            print("\n".join(lines))
    recorded = json.loads(args.model.with_suffix(".json").read_text())["evaluation"]
    key = f"held_out_{mode}"
    if key in recorded and recorded[key]["windows"] == len(codes):
        print("recorded in the metadata:")
        for name in TARGETS:
            print(f"  {name:22} {recorded[key][name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
