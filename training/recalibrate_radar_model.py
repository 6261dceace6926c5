"""Choose the committed model's child / adult verdict margins again and re-measure it, without
TensorFlow and without touching the network.

    .venv/bin/python -m training.recalibrate_radar_model [--cache .cache/radar_model]

Runs the committed .tflite through the agent's own loader on the validation split exactly as
training made it (the last 10 % of the training windows, a third of them as band-mode lines),
chooses ``verdict_margins`` there (``training.radar_calibration.choose_margins``: at most 5 % of
adults called children and of children called adults), then evaluates on the held-out windows
(full, band, the CI check) and rewrites the metadata's ``verdict_margins``, ``evaluation`` and
``training.calibration``. The presence thresholds, speed refinement and model file stay as
they are (the SHA-256 still matches). Held-out data is never used to choose anything.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pole_agent.perception.radar_model import DEFAULT_MODEL, RadarModel
from training.radar_calibration import WRONG_VERDICTS, choose_margins
from training.radar_dataset import (
    CI_COUNT,
    HELD_OUT_COUNT,
    HELD_OUT_SEED,
    MODEL_SPEC,
    TRAIN_COUNT,
    TRAIN_SEED,
    band_mode,
    load_or_generate,
)
from training.radar_evaluation import evaluate_held_out, predict_all
from training.radar_metadata import STATEMENT, VERSION
from training.train_radar_model import mixed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--cache", type=Path, default=Path(".cache/radar_model"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.monotonic()
    model = RadarModel.load(args.model, sampling_rate_hz=MODEL_SPEC.sampling_rate_hz)
    train = load_or_generate(
        args.cache, seed=TRAIN_SEED, count=TRAIN_COUNT, held_out=False, workers=args.workers
    )
    held = load_or_generate(
        args.cache, seed=HELD_OUT_SEED, count=HELD_OUT_COUNT, held_out=True, workers=args.workers
    )
    codes = mixed(train.codes, 1 / 3, TRAIN_SEED)
    split = int(codes.shape[0] * 0.9)
    scores, _speeds = predict_all(model.predict, codes[split:])
    margins = choose_margins(scores, train.present[split:], model.thresholds)
    print(f"child / adult verdict margins (from validation): {margins}", flush=True)
    meta_path = args.model.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["version"] = VERSION
    meta["verdict_margins"] = margins.model_dump()
    meta["training"]["calibration"] = {
        "verdict_margins": margins.model_dump(),
        "wrong_verdicts_at_most": WRONG_VERDICTS,
        "chosen_on": f"validation split ({codes.shape[0] - split} windows, the last 10 % of "
        "the training windows, a third as band-mode lines), with the committed int8 model",
        "command": ".venv/bin/python -m training.recalibrate_radar_model",
    }
    meta["evaluation"] = evaluate_held_out(
        model.predict, held, model.thresholds, margins,
        band=band_mode, ci_count=CI_COUNT, statement=STATEMENT,
    )  # fmt: skip
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {meta_path}; {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
