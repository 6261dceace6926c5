"""The kerb radar model's data: which windows, from which seeds, cached on disk; no TensorFlow.

Training and held-out windows come from ``simulator.training_data`` (the radar physics). The
model reads a wider band than the generator's default (bins -256..255, +-31 m/s, so a vehicle at
80 km/h head-on is still in view); everything else is the generator's ``WindowSpec``.

Seeds: training windows from ``TRAIN_SEED`` with ``SceneRanges()``; held-out windows from
``HELD_OUT_SEED`` with ``SceneRanges.held_out()`` (wider on every axis). The CI check regenerates
the first ``CI_COUNT`` held-out windows and compares the model's figures on them with the ones
recorded in the metadata.

Band mode (``B`` lines, a UART) sends only bins -128..127 and up to two runs around strong lines
outside them; the runtime fills missing bins with ``FILL_DB`` (the noise floor). ``band_mode``
turns full windows into what such lines give, so the model is trained (and evaluated) on both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.spectrum import quantise_db
from simulator.spectrum_source import BandPolicy, choose_runs
from simulator.training_data import (
    Dataset,
    SceneRanges,
    TargetTruth,
    WindowSpec,
    generate_dataset,
    scene_truths,
)

MODEL_SPEC: Final = WindowSpec(band=(-256, 256))
HOP_FRAMES: Final = 8
"""A window is classified every 8 frames (0.41 s at 20 kHz) on the pole."""
FILL_DB: Final = 0.0
TRAIN_SEED: Final = 1
HELD_OUT_SEED: Final = 9001
TRAIN_COUNT: Final = 30_000
HELD_OUT_COUNT: Final = 4_000
CI_COUNT: Final = 800

U8 = npt.NDArray[np.uint8]


def fill_code(spec: WindowSpec = MODEL_SPEC) -> int:
    return int(quantise_db(np.array([FILL_DB]), spec.db0, spec.step_db)[0])


def band_mode(codes: U8, spec: WindowSpec = MODEL_SPEC, policy: BandPolicy | None = None) -> U8:
    """Windows (W, frames, bins) as band-mode lines would give them: bins outside the runs the
    sensor chooses per frame (``simulator.spectrum_source.choose_runs``) hold the fill code."""
    policy = policy or BandPolicy()
    out = np.full_like(codes, fill_code(spec))
    db = spec.db0 + codes.astype(np.float32) * spec.step_db
    half = -spec.band[0]
    for w in range(codes.shape[0]):
        for f in range(codes.shape[1]):
            for start, count in choose_runs(db[w, f], policy):
                out[w, f, start + half : start + half + count] = codes[
                    w, f, start + half : start + half + count
                ]
    return out


def _key(seed: int, count: int, held_out: bool, spec: WindowSpec, start: int) -> str:
    ranges = SceneRanges.held_out() if held_out else SceneRanges()
    text = json.dumps([seed, count, start, asdict(ranges), asdict(spec)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_or_generate(
    cache: Path | None,
    *,
    seed: int,
    count: int,
    held_out: bool,
    spec: WindowSpec = MODEL_SPEC,
    start: int = 0,
    workers: int = 2,
) -> Dataset:
    """The windows ``start .. start + count - 1`` of ``seed``; from ``cache`` when it holds them
    (keyed by every parameter), else generated (and saved there)."""
    ranges = SceneRanges.held_out() if held_out else SceneRanges()
    path = None
    if cache is not None:
        path = (
            cache / f"windows-{seed}-{start}-{count}-{_key(seed, count, held_out, spec, start)}.npz"
        )
        if path.exists():
            with np.load(path) as data:
                return Dataset(
                    codes=data["codes"],
                    present=data["present"],
                    radial_mps=data["radial_mps"],
                    targets=[],
                    spec=spec,
                    ranges=ranges,
                    seed=seed,
                    start=start,
                )
    dataset = generate_dataset(
        count, seed=seed, ranges=ranges, spec=spec, start=start, workers=workers
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save(path)
    return dataset


def truths(data: Dataset) -> list[tuple[TargetTruth, ...]]:
    """Every target of every window: the dataset's own, or (windows read from the cache, which
    holds no per-target truth) drawn again with ``simulator.training_data.scene_truths`` (the
    same draws without the spectra: 0.2 ms a window)."""
    if data.targets:
        return data.targets
    return [
        scene_truths(data.start + i, seed=data.seed, ranges=data.ranges, spec=data.spec)
        for i in range(data.codes.shape[0])
    ]


def several_targets(data: Dataset) -> npt.NDArray[np.bool_]:
    """Windows holding more than one target (of any labels)."""
    return np.array([len(targets) > 1 for targets in truths(data)], dtype=bool)
