"""Figures of the kerb radar model on labelled windows; numpy only (no TensorFlow).

Used by the training command (to write the metadata) and by tests/model (to check the committed
model still earns them). Definitions (docs/radar_model.md, "Figures"):

- a person is present when the child or the adult probability reaches its threshold; the
  verdict on that person is child, adult or unknown (``person_verdict``: the margin
  p(child) - p(adult) against the metadata's ``verdict_margins``);
- per label: precision and recall of "present" (probability >= the label's threshold), except
  child and adult: of the verdict (a person judged a child; a person judged an adult);
  ``person``: precision and recall of a person (child or adult) present;
- child recall: windows with a child in which the model's verdict is child; adult as child:
  windows with an adult and no child in which it is child (the issue's target, on the verdict);
- on the warning side (``warning_*``): a person is reported to the warning rules as a possible
  child unless the verdict is adult and the child probability is under its threshold
  (``kerb_model.unsure_person_as = "child"``, the default): the share of windows with a child
  in which that happens, and of windows with an adult and no child;
- person vs vehicle (the target): over windows holding a person (child or adult) or a vehicle
  but not both, and in which the model says person or vehicle, the share in which both its
  person flag and its vehicle flag are right (a person taken for a vehicle, or the reverse, or
  both said, is wrong; a target not seen at all is a miss, counted by recall, not here);
  ``person_vs_vehicle_strict`` counts those misses as wrong too;
- speed error: |predicted - true| radial speed in km/h, over labels present and detected;
  ``speed_within_2_kmh``: the share of those within 2 km/h (the target asks for 95 %);
- confusion matrix: windows holding at most one label, true label (or nothing) by what the
  model said: nothing, child, adult, a person of unknown kind, vehicle, rider, or several.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import LABELS, Prediction, VerdictMargins
from simulator.training_data import Dataset
from training.radar_dataset import several_targets

TARGETS: Final = {
    "child_recall": (">=", 0.95),
    "adult_as_child": ("<=", 0.05),
    "person_vs_vehicle": (">=", 0.99),
    "speed_error_p95_kmh": ("<=", 2.0),
}
CONFUSION_ROWS: Final = ("nothing", *LABELS)
CONFUSION_COLUMNS: Final = ("nothing", "child", "adult", "person_unknown", *LABELS[2:], "several")

F32 = npt.NDArray[np.float32]


def predict_all(
    predict: Callable[[npt.NDArray[np.uint8]], Prediction], codes: npt.NDArray[np.uint8]
) -> tuple[F32, F32]:
    """Probabilities and speeds (m/s) of every window, (W, 4) each."""
    scores = np.zeros((codes.shape[0], len(LABELS)), np.float32)
    speeds = np.zeros_like(scores)
    for i in range(codes.shape[0]):
        prediction = predict(codes[i])
        scores[i], speeds[i] = prediction.scores, prediction.speeds_mps
    return scores, speeds


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def figures(
    scores: F32,
    speeds_mps: F32,
    present: npt.NDArray[np.bool_],
    radial_mps: F32,
    thresholds: Mapping[str, float],
    *,
    margins: VerdictMargins | None = None,
    several: npt.NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """Every figure, as plain JSON values; with ``several`` (windows holding more than one
    target) also the pooled speed error of windows with one target and with several."""
    margins = margins or VerdictMargins()
    limits = np.array([thresholds[label] for label in LABELS], np.float32)
    said = scores >= limits
    verdict = verdicts(scores, said, margins)
    per_label: dict[str, Any] = {}
    errors_all: list[npt.NDArray[np.float64]] = []
    crowded: list[npt.NDArray[np.bool_]] = []
    for i, label in enumerate(LABELS):
        told = verdict[:, i] if i < 2 else said[:, i]
        tp = int(np.sum(told & present[:, i]))
        fp = int(np.sum(told & ~present[:, i]))
        fn = int(np.sum(~told & present[:, i]))
        hit = said[:, i] & present[:, i]
        errors = np.abs(speeds_mps[hit, i] - radial_mps[hit, i]).astype(np.float64) * 3.6
        errors_all.append(errors)
        if several is not None:
            crowded.append(several[hit])
        per_label[label] = {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "support": int(np.sum(present[:, i])),
            "speed_error_p50_kmh": round(float(np.percentile(errors, 50)), 3)
            if errors.size
            else None,
            "speed_error_p95_kmh": round(float(np.percentile(errors, 95)), 3)
            if errors.size
            else None,
        }
    child, adult, vehicle = (LABELS.index(name) for name in ("child", "adult", "vehicle"))
    adults_only = present[:, adult] & ~present[:, child]
    person_true = present[:, child] | present[:, adult]
    person_said = said[:, child] | said[:, adult]
    one_group = person_true ^ present[:, vehicle]
    right = (person_true == person_said) & (present[:, vehicle] == said[:, vehicle])
    answered = one_group & (person_said | said[:, vehicle])
    everything = np.concatenate(errors_all)
    warned_as_child = person_said & ~(verdict[:, adult] & ~said[:, child])
    children = present[:, child]
    result: dict[str, Any] = {
        "windows": int(present.shape[0]),
        "per_label": per_label,
        "person": {
            "precision": _ratio(int(np.sum(person_said & person_true)), int(person_said.sum())),
            "recall": _ratio(int(np.sum(person_said & person_true)), int(person_true.sum())),
            "support": int(person_true.sum()),
        },
        "verdict_margins": margins.model_dump(),
        "child_recall": per_label["child"]["recall"],
        "adult_as_child": _ratio(int(np.sum(verdict[adults_only, child])), int(adults_only.sum())),
        "person_unknown": _ratio(
            int(np.sum(person_said & ~verdict[:, child] & ~verdict[:, adult])),
            int(person_said.sum()),
        ),
        "warning_child_recall": _ratio(int(np.sum(warned_as_child[children])), int(children.sum())),
        "warning_adult_as_child": _ratio(
            int(np.sum(warned_as_child[adults_only])), int(adults_only.sum())
        ),
        "person_vs_vehicle": _ratio(int(np.sum(right[answered])), int(answered.sum())),
        "person_vs_vehicle_strict": _ratio(int(np.sum(right[one_group])), int(one_group.sum())),
        "speed_error_p50_kmh": round(float(np.percentile(everything, 50)), 3),
        "speed_error_p95_kmh": round(float(np.percentile(everything, 95)), 3),
        "speed_within_2_kmh": round(float(np.mean(everything <= 2.0)), 4),
        "confusion": confusion(said, verdict, present),
    }
    if several is not None:
        mask = np.concatenate(crowded)
        result["speed_error_by_scene"] = {
            name: _spread(everything[rows])
            for name, rows in (("one_target", ~mask), ("several_targets", mask))
        }
    result["targets"] = {name: met(name, result[name]) for name in TARGETS}
    return result


def _spread(errors: npt.NDArray[np.float64]) -> dict[str, Any]:
    if not errors.size:
        return {"windows": 0, "p50_kmh": None, "p95_kmh": None}
    return {
        "windows": int(errors.size),
        "p50_kmh": round(float(np.percentile(errors, 50)), 3),
        "p95_kmh": round(float(np.percentile(errors, 95)), 3),
    }


def evaluate_held_out(
    predict: Callable[[npt.NDArray[np.uint8]], Prediction],
    held: Dataset,
    thresholds: Mapping[str, float],
    margins: VerdictMargins,
    *,
    band: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]],
    ci_count: int,
    statement: str,
) -> dict[str, Any]:
    """The metadata's ``evaluation``: the held-out windows as full and as band-mode (``band``)
    lines, and the first ``ci_count`` of them (the CI check), printed as they are measured."""
    evaluation: dict[str, Any] = {"statement": statement}
    several = several_targets(held)
    for mode, windows in (("full", held.codes), ("band", band(held.codes))):
        scores, speeds = predict_all(predict, windows)
        result = figures(
            scores, speeds, held.present, held.radial_mps, thresholds,
            margins=margins, several=several,
        )  # fmt: skip
        evaluation[f"held_out_{mode}"] = result
        print(f"held-out, {mode} spectrum lines:", *format_figures(result), sep="\n", flush=True)
    ci = slice(0, min(ci_count, held.codes.shape[0]))
    scores, speeds = predict_all(predict, held.codes[ci])
    evaluation["ci_check"] = {
        "seed": held.seed,
        "start": held.start,
        "count": ci.stop,
        "mode": "full",
        "figures": figures(
            scores,
            speeds,
            held.present[ci],
            held.radial_mps[ci],
            thresholds,
            margins=margins,
            several=several[ci],
        ),
    }
    return evaluation


def met(name: str, value: float | None) -> bool:
    if value is None:
        return False
    op, limit = TARGETS[name]
    return value >= limit if op == ">=" else value <= limit


def verdicts(
    scores: F32, said: npt.NDArray[np.bool_], margins: VerdictMargins
) -> npt.NDArray[np.bool_]:
    """(W, 2): a person judged a child, a person judged an adult (``person_verdict``)."""
    person = said[:, 0] | said[:, 1]
    margin = scores[:, 0] - scores[:, 1]
    child = person & (margin >= margins.child)
    adult = person & ~child & (-margin >= margins.adult)
    return np.stack([child, adult], axis=1)


def confusion(
    said: npt.NDArray[np.bool_], verdict: npt.NDArray[np.bool_], present: npt.NDArray[np.bool_]
) -> dict[str, Any]:
    matrix = np.zeros((len(CONFUSION_ROWS), len(CONFUSION_COLUMNS)), np.int64)
    single = present.sum(axis=1) <= 1
    person = said[:, 0] | said[:, 1]
    unknown = person & ~verdict[:, 0] & ~verdict[:, 1]
    told = np.concatenate([verdict, unknown[:, None], said[:, 2:]], axis=1)
    for truth, guess in zip(present[single], told[single], strict=True):
        row = 0 if not truth.any() else 1 + int(np.argmax(truth))
        count = int(guess.sum())
        col = 0 if count == 0 else (1 + int(np.argmax(guess)) if count == 1 else len(told[0]) + 1)
        matrix[row, col] += 1
    return {
        "rows_true": list(CONFUSION_ROWS),
        "columns_predicted": list(CONFUSION_COLUMNS),
        "counts": matrix.tolist(),
        "note": "windows holding at most one label",
    }


def format_figures(result: Mapping[str, Any]) -> list[str]:
    """Human lines for the training command's output and the docs."""
    lines = [f"{result['windows']} windows"]
    for label, row in result["per_label"].items():
        lines.append(
            f"  {label:16} precision {row['precision']}  recall {row['recall']}  "
            f"support {row['support']}  speed error p50 {row['speed_error_p50_kmh']} "
            f"p95 {row['speed_error_p95_kmh']} km/h"
        )
    person = result["person"]
    lines.append(
        f"  {'person (child or adult)':16} precision {person['precision']}  recall "
        f"{person['recall']}  support {person['support']}; verdict unknown for "
        f"{result['person_unknown']} of the persons said ({result['verdict_margins']})"
    )
    for name, (op, limit) in TARGETS.items():
        verdict = "met" if result["targets"][name] else "MISSED"
        lines.append(f"  {name:22} {result[name]}  (target {op} {limit}: {verdict})")
    lines.append(f"  {'person_vs_vehicle_strict':22} {result['person_vs_vehicle_strict']}")
    lines.append(f"  {'speed_within_2_kmh':22} {result['speed_within_2_kmh']}")
    for scene, row in result.get("speed_error_by_scene", {}).items():
        lines.append(
            f"  speed error, {scene.replace('_', ' ')}: p50 {row['p50_kmh']} p95 "
            f"{row['p95_kmh']} km/h ({row['windows']} labels detected)"
        )
    lines.append(
        f"  warning side (unsure persons reported as children): child recall "
        f"{result['warning_child_recall']}, adults as children {result['warning_adult_as_child']}"
    )
    table = result["confusion"]
    lines.append(
        "  confusion (rows true, columns predicted): " + " ".join(table["columns_predicted"])
    )
    for name, counts in zip(table["rows_true"], table["counts"], strict=True):
        lines.append(f"    {name:16} " + " ".join(f"{c:6d}" for c in counts))
    return lines
