"""The kerb radar model's metadata file (``radar_kerb.json``): what the agent's loader reads
(``pole_agent.perception.radar_model.ModelMetadata``) and what people read."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import (
    LABELS,
    METADATA_FORMAT,
    CellSpec,
    SpeedRefinement,
    VerdictMargins,
)
from simulator.radar_physics import CARRIER_HZ
from training.radar_dataset import FILL_DB, HOP_FRAMES, MODEL_SPEC

NAME = "radar_kerb"
VERSION = "1.3.0"
"""1.1: the child / adult verdict (``verdict_margins``); the network is 1.0's. 1.2: retrained
with the speed head's cell loss (``train_radar_model._cell_loss``): one peak, not a blend. 1.3:
1.2's network with its cell probabilities as a third output, the speed of the labels chosen on
validation taken from the peak cell (``CellSpec``)."""
SPEED_SCALE_MPS = 10.0
STATEMENT = (
    "All figures are measured on simulated radar spectra (simulator.radar_physics, "
    "docs/radar_physics.md), not on real captures; a real sensor will differ (see "
    "docs/radar_model.md, Limits)."
)


def input_spec() -> dict[str, Any]:
    spec = MODEL_SPEC
    return {
        "sampling_rate_hz": spec.sampling_rate_hz,
        "fft_size": spec.fft_size,
        "carrier_hz": CARRIER_HZ,
        "frames": spec.frames,
        "band": list(spec.band),
        "hop_frames": HOP_FRAMES,
        "db0": spec.db0,
        "step_db": spec.step_db,
        "fill_db": FILL_DB,
        "max_gap_frames": 0,
        "cadence_tolerance": 0.25,
        "units": "code c = db0 + c * step_db dB above the receiver's noise floor per bin "
        "(the SPEC1 line's scale); bins a band-mode line did not send hold fill_db",
        "scaling": "codes 0..255 as float, quantised by the input tensor's own int8 scale and "
        "zero point (set by the converter from the representative windows: int8 = code / "
        "scale - 128, codes above the range the scale covers saturate)",
        "layout": "[1, frames, bins, 1]: frames oldest first, back to back (period "
        "fft_size / sampling_rate_hz); bins lo .. hi - 1, most negative (receding) first",
    }


def cell_centres() -> npt.NDArray[np.float32]:
    """The speed (/ ``SPEED_SCALE_MPS``) of each of the model's 128 frequency cells."""
    spec = MODEL_SPEC
    cells = spec.bins // 4
    centres = (spec.band[0] + 4 * np.arange(cells) + 1.5) * spec.sensor().resolution_mps
    return (centres / SPEED_SCALE_MPS).astype(np.float32)


def cell_spec(*, index: int, peak_labels: tuple[str, ...]) -> CellSpec:
    """The cells output's description for the metadata (``CellSpec``)."""
    centres = cell_centres().astype(np.float64) * SPEED_SCALE_MPS
    return CellSpec(
        index=index,
        count=int(centres.size),
        first_mps=round(float(centres[0]), 6),
        step_mps=round(float(centres[1] - centres[0]), 6),
        peak_labels=peak_labels,
    )


def metadata(
    model_bytes: bytes,
    indices: tuple[int, int],
    thresholds: dict[str, float],
    *,
    margins: VerdictMargins,
    cells: CellSpec,
    refine: dict[str, SpeedRefinement],
    training: dict[str, Any],
) -> dict[str, Any]:
    """``indices``: the presence and the speed output tensors'."""
    spec = MODEL_SPEC
    return {
        "format": METADATA_FORMAT,
        "name": NAME,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "model_bytes": len(model_bytes),
        "labels": list(LABELS),
        "thresholds": thresholds,
        "verdict_margins": margins.model_dump(),
        "input": input_spec(),
        "outputs": {
            "presence_index": indices[0],
            "speed_index": indices[1],
            "speed_scale_mps": SPEED_SCALE_MPS,
            "presence": "probability per label that at least one such target is in the window",
            "speed": "radial speed of the strongest target of each label at the window's end, "
            "m/s after scaling, positive = approaching; meaningless where the label is absent",
            "cells": cells.model_dump(mode="json"),
            "refine": {label: r.model_dump() for label, r in refine.items()},
        },
        "sensor": {
            "model": "OPS243-A or OPS243-C (24.125 GHz CW Doppler)",
            "sampling_rate_hz": spec.sampling_rate_hz,
            "fft_size": spec.fft_size,
            "spectrum": "SPEC1 lines, F (full) or B (band) mode, at the sensor's own frame rate",
        },
        "training": training,
        "statement": STATEMENT,
    }
