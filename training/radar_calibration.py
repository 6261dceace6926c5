"""Choices made on the validation split after training (never on held-out data): the
presence thresholds, the child / adult verdict margins and, per label, where its speed comes
from (the head's expectation or its peak cell) and how it is refined on the spectrum."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import (
    LABELS,
    CellSpec,
    InputSpec,
    SpeedRefinement,
    VerdictMargins,
    refine_speed,
)
from training.radar_metadata import input_spec


def choose_thresholds(
    scores: npt.NDArray[np.float32], present: npt.NDArray[np.bool_]
) -> dict[str, float]:
    """Children and vehicles (the labels a warning needs): the highest threshold, from 0.5
    down, at which validation recall reaches 0.97; adults and riders: 0.5."""
    thresholds: dict[str, float] = {}
    for i, label in enumerate(LABELS):
        wanted = 0.97 if label in ("child", "vehicle") else 0.0
        chosen = 0.5
        for candidate in np.arange(0.5, 0.04, -0.01):
            hit = scores[present[:, i], i] >= candidate
            chosen = float(candidate)
            if hit.mean() >= wanted:
                break
        thresholds[label] = round(chosen, 2)
    return thresholds


WRONG_VERDICTS: Final = 0.05
"""The most adults (alone of their kind) the child verdict may take, and children the adult one,
on the validation split: the issue's adult-as-child target."""


def choose_margins(
    scores: npt.NDArray[np.float32],
    present: npt.NDArray[np.bool_],
    thresholds: dict[str, float],
    wrong: float = WRONG_VERDICTS,
) -> VerdictMargins:
    """The smallest margins (``VerdictMargins``) at which at most ``wrong`` of the validation
    windows with an adult and no child get the child verdict, and of those with a child and no
    adult the adult verdict: the model says child or adult only when it is that sure."""
    person = (scores[:, 0] >= thresholds["child"]) | (scores[:, 1] >= thresholds["adult"])
    margin = scores[:, 0] - scores[:, 1]
    grid = np.round(np.arange(-1.0, 1.0001, 0.01), 2)

    def smallest(lean: npt.NDArray[np.float32], others: npt.NDArray[np.bool_]) -> float:
        for candidate in grid:
            if float(np.mean(person[others] & (lean[others] >= candidate))) <= wrong:
                return float(candidate)
        return 1.01  # never sure enough

    adults_only = present[:, 1] & ~present[:, 0]
    children_only = present[:, 0] & ~present[:, 1]
    child = smallest(margin, adults_only)
    adult = max(smallest(-margin, children_only), -child)  # the two verdicts never overlap
    return VerdictMargins(child=child, adult=adult)


REFINE_GRID: Final = [
    SpeedRefinement(frames=f, half_width_mps=w, floor_db=db, min_bin=2)
    for f in (4, 8, 16, 32)
    for w in (0.6, 1.2, 2.4)
    for db in (6.0, 12.0, 24.0)
]


CLOSE_MPS: Final = 2.0 / 3.6
"""The issue's speed target: within 2 km/h (for 95 % of the speeds measured)."""


def speed_score(errors_mps: npt.NDArray[np.float64]) -> tuple[float, float]:
    """How good a set of speed errors is, larger better: first the share within 2 km/h (the
    issue's target read at its 2 km/h point: no choice here reaches 95 %, so this counts the
    speeds that are right), then the p95 error (smaller) to break ties."""
    errors = np.abs(errors_mps)
    return float(np.mean(errors <= CLOSE_MPS)), -float(np.percentile(errors, 95))


def _describe(score: tuple[float, float]) -> str:
    return f"{score[0]:.3f} within 2 km/h, p95 {-score[1] * 3.6:.2f} km/h"


def choose_peak_labels(
    cells: CellSpec,
    expected_mps: npt.NDArray[np.float32],
    probabilities: npt.NDArray[np.float32],
    present: npt.NDArray[np.bool_],
    radial_mps: npt.NDArray[np.float32],
) -> tuple[tuple[str, ...], npt.NDArray[np.float32]]:
    """Per label, whether its speed is the head's expectation over the cells or the peak cell's
    (``CellSpec.peak_speed``), whichever scores better (``speed_score``) on the validation
    windows holding that label; returns the labels taking the peak and every window's speeds
    (W, 4, m/s) as chosen."""
    speeds = expected_mps.astype(np.float32).copy()
    peak_labels: list[str] = []
    for i, label in enumerate(LABELS):
        rows = np.flatnonzero(present[:, i])
        peaks = np.array([cells.peak_speed(probabilities[r, i]) for r in rows], np.float32)
        truth = radial_mps[rows, i]
        expected = speed_score(expected_mps[rows, i] - truth)
        peak = speed_score(peaks - truth)
        if peak > expected:
            peak_labels.append(label)
            speeds[rows, i] = peaks
        print(
            f"  {label}: expectation {_describe(expected)}; peak cell {_describe(peak)}",
            flush=True,
        )
    return tuple(peak_labels), speeds


def choose_refinement(
    codes: npt.NDArray[np.uint8],
    coarse_mps: npt.NDArray[np.float32],
    present: npt.NDArray[np.bool_],
    radial_mps: npt.NDArray[np.float32],
) -> dict[str, SpeedRefinement]:
    """Per label, the refinement (or none) that scores best (``speed_score``) on the validation
    windows holding that label."""
    chosen: dict[str, SpeedRefinement] = {}
    spec = InputSpec.model_validate(input_spec())
    for i, label in enumerate(LABELS):
        rows = np.flatnonzero(present[:, i])
        truth = radial_mps[rows, i]
        best = speed_score(coarse_mps[rows, i] - truth)
        for candidate in REFINE_GRID:
            got = np.array(
                [refine_speed(codes[r], spec, float(coarse_mps[r, i]), candidate) for r in rows]
            )
            score = speed_score(got - truth)
            if score > best:
                best, chosen[label] = score, candidate
        print(
            f"  {label}: {_describe(best)} on validation "
            f"({'head ' + ('+ ' + repr(chosen[label]) if label in chosen else 'only')})",
            flush=True,
        )
    return chosen
