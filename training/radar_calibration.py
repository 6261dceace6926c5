"""Choices made on the validation split after training (never on held-out data): the
presence thresholds and, per label, how the speed head's estimate is refined on the spectrum."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import (
    LABELS,
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


def choose_refinement(
    codes: npt.NDArray[np.uint8],
    coarse_mps: npt.NDArray[np.float32],
    present: npt.NDArray[np.bool_],
    radial_mps: npt.NDArray[np.float32],
) -> dict[str, SpeedRefinement]:
    """Per label, the refinement (or none) with the lowest p95 speed error on the validation
    windows holding that label."""
    chosen: dict[str, SpeedRefinement] = {}
    spec = InputSpec.model_validate(input_spec())
    for i, label in enumerate(LABELS):
        rows = np.flatnonzero(present[:, i])
        truth = radial_mps[rows, i]
        best = float(np.percentile(np.abs(coarse_mps[rows, i] - truth), 95))
        for candidate in REFINE_GRID:
            got = np.array(
                [refine_speed(codes[r], spec, float(coarse_mps[r, i]), candidate) for r in rows]
            )
            p95 = float(np.percentile(np.abs(got - truth), 95))
            if p95 < best:
                best, chosen[label] = p95, candidate
        print(
            f"  {label}: speed error p95 {best * 3.6:.2f} km/h on validation "
            f"({'head ' + ('+ ' + repr(chosen[label]) if label in chosen else 'only')})",
            flush=True,
        )
    return chosen
