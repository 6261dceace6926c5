"""Where the kerb radar model's errors come from, on held-out windows: the tables of
docs/radar_model.md ("Where the other errors are"), printed by
``python -m training.evaluate_radar_model --breakdown``. Measurement only: nothing here is used
to choose anything.

Every function takes the model's per-window probabilities and speeds (``predict_all``), the
windows' ground truth (``training.radar_dataset.truths``: every target, not only the strongest
of each label) and the thresholds.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import LABELS
from simulator.training_data import Dataset, TargetTruth

F32 = npt.NDArray[np.float32]
Truths = Sequence[tuple[TargetTruth, ...]]
CLOSE_KMH: Final = 2.0
"""A speed within this of a target's is that target's (the issue's speed target)."""


def _said(scores: F32, thresholds: Mapping[str, float]) -> npt.NDArray[np.bool_]:
    return scores >= np.array([thresholds[label] for label in LABELS])


def _pct(errors: npt.NDArray[np.float64]) -> str:
    if not errors.size:
        return "n=0"
    p50, p95 = np.percentile(errors, [50, 95])
    return f"p50 {p50:.2f} p95 {p95:.2f} (n={errors.size})"


def speed_sources(
    scores: F32, speeds: F32, data: Dataset, truths: Truths, thresholds: Mapping[str, float]
) -> list[str]:
    """Per label, the detected windows whose speed is more than ``CLOSE_KMH`` off the label's
    truth (the strongest target of that label), by what the speed is near instead: nothing
    else is in the window; another target of the same label; a target of another label; no
    target at all (a blend of two lines, or clutter). Also the errors measured against the
    nearest target of any label: what a perfect choice among the window's lines would leave."""
    said = _said(scores, thresholds)
    lines = [f"speed errors over {CLOSE_KMH} km/h, by what the speed is near instead:"]
    nearest_any: list[float] = []
    for i, label in enumerate(LABELS):
        rows = np.flatnonzero(said[:, i] & data.present[:, i])
        kinds: Counter[str] = Counter()
        for r in rows.tolist():
            guess = float(speeds[r, i])
            nearest_any.append(min(abs(t.radial_mps - guess) for t in truths[r]) * 3.6)
            if abs(guess - float(data.radial_mps[r, i])) * 3.6 <= CLOSE_KMH:
                continue
            near = [t for t in truths[r] if abs(t.radial_mps - guess) * 3.6 <= CLOSE_KMH]
            if len(truths[r]) == 1:
                kinds["alone in the window"] += 1
            elif any(t.label == label for t in near):
                kinds["another of its label"] += 1
            elif near:
                kinds["a target of another label"] += 1
            else:
                kinds["no target (a blend or clutter)"] += 1
        parts = ", ".join(f"{name} {count}" for name, count in kinds.most_common())
        lines.append(f"  {label:16} {sum(kinds.values())} of {rows.size}: {parts}")
    lines.append(
        "  against the nearest target of any label: " + _pct(np.array(nearest_any, np.float64))
    )
    return lines


def person_vehicle_errors(
    scores: F32, data: Dataset, truths: Truths, thresholds: Mapping[str, float]
) -> list[str]:
    """The wrong answers of ``person_vs_vehicle`` by kind, and vehicle recall by main-line SNR
    and radial speed."""
    said = _said(scores, thresholds)
    present = data.present
    person_true, person_said = present[:, 0] | present[:, 1], said[:, 0] | said[:, 1]
    one_group = person_true ^ present[:, 2]
    answered = one_group & (person_said | said[:, 2])
    right = (person_true == person_said) & (present[:, 2] == said[:, 2])
    kinds: Counter[str] = Counter()
    for r in np.flatnonzero(answered & ~right):
        if person_true[r]:
            kind = "person window: " + ("vehicle said" if said[r, 2] else "")
            kind += "" if person_said[r] else " (person missed)"
        else:
            kind = "vehicle window: person said" + ("" if said[r, 2] else " (vehicle missed)")
        kinds[kind + (", a rider present" if present[r, 3] else "")] += 1
    lines = [f"person vs vehicle: {sum(kinds.values())} wrong of {int(answered.sum())} answered"]
    lines += [f"  {count:4d} {kind}" for kind, count in kinds.most_common()]
    rows = np.flatnonzero(present[:, 2])
    strongest = [
        max((t for t in truths[r] if t.label == "vehicle"), key=_power) for r in rows.tolist()
    ]
    power = np.array([t.power_db for t in strongest])
    radial = np.array([abs(t.radial_mps) * 3.6 for t in strongest])
    found = said[rows, 2]
    for name, values, edges in (
        ("main-line SNR (dB)", power, (0, 10, 15, 25, 200)),
        ("radial speed (km/h)", radial, (0, 3, 10, 30, 200)),
    ):
        cells = []
        for lo, hi in itertools.pairwise(edges):
            mask = (values >= lo) & (values < hi)
            cells.append(f"{lo}-{hi}: {found[mask].mean():.2f} (n={int(mask.sum())})")
        lines.append(f"  vehicle recall by {name}: " + "; ".join(cells))
    riders = present[:, 3] & ~present[:, 2]
    lines.append(
        f"  windows with a rider and no vehicle called vehicle: "
        f"{float(said[riders, 2].mean()):.3f} (n={int(riders.sum())}); empty windows called "
        f"vehicle: {float(said[~present.any(axis=1), 2].mean()):.3f}"
    )
    return lines


def _power(truth: TargetTruth) -> float:
    return truth.power_db


def one_or_several(
    scores: F32, speeds: F32, data: Dataset, truths: Truths, thresholds: Mapping[str, float]
) -> list[str]:
    """Speed error and recall with one target in the window against several, and the mean
    child and adult probabilities of one walking or running person by cos(aspect) (radial /
    ground speed: the radar sees v cos(aspect), never v)."""
    said = _said(scores, thresholds)
    single = np.array([len(targets) == 1 for targets in truths])
    lines = ["speed error (km/h) of labels present and detected, one target vs several:"]
    for i, label in enumerate(LABELS):
        hit = said[:, i] & data.present[:, i]
        error = (np.abs(speeds[:, i] - data.radial_mps[:, i]) * 3.6).astype(np.float64)
        alone = single & data.present[:, i]
        recall = float(said[alone, i].mean()) if alone.any() else float("nan")
        lines.append(
            f"  {label:16} one target {_pct(error[hit & single])}; several "
            f"{_pct(error[hit & ~single])}; recall with one target {recall:.3f}"
        )
    lines.append("one person alone: mean p(child) / p(adult) by cos(aspect)")
    people = [
        (targets[0].label, abs(targets[0].radial_mps) / max(targets[0].speed_mps, 1e-6), i)
        for i, targets in enumerate(truths)
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
