"""The kerb radar model: its metadata, loading with every check, and inference on one window.

A model is two files side by side in ``pole_agent/models/``: ``<name>.tflite`` and
``<name>.json``, the metadata (docs/radar_model.md): version, labels, the input specification
(sampling rate, FFT size, frames per window, band of bins, hop, dB scale, fill value for bins a
band-mode line did not send), which output tensor is which, default thresholds, and the figures
measured on held-out simulated data. ``RadarModel.load`` refuses, each with a ``ModelError``
naming the file and the problem: a missing or unreadable file, metadata that is not valid, a
model whose bytes are not the ones the metadata describes (SHA-256), a file the runtime cannot
open, tensors of another shape, and a specification that does not match the sensor's settings
(``ModelSpecError``).

The window is (frames, bins) of the wire's uint8 codes, oldest frame first, most negative
(receding) bin first; ``pole_agent.perception.spectrum_window`` makes them from spectrum lines.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pole_agent.drivers.tflite_runtime import (
    ModelLoadError,
    NoRuntimeError,
    Runtime,
    TfliteModel,
    load_model,
)

METADATA_FORMAT: Final = "pole-agent-radar-model"
DEFAULT_MODEL: Final = Path(__file__).resolve().parent.parent / "models" / "radar_kerb.tflite"
LABELS: Final = ("child", "adult", "vehicle", "cyclist_scooter")
SPEED_OF_LIGHT_MPS: Final = 299_792_458.0


class ModelError(Exception):
    """A model the agent cannot use; the message says which file and why."""


class ModelSpecError(ModelError):
    """The model expects spectra the sensor, as configured, does not produce."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """What the model reads (docs/radar_model.md, "Input")."""

    sampling_rate_hz: int = Field(gt=0, description="Sensor sampling rate the model assumes.")
    fft_size: int = Field(gt=0, description="Points per FFT frame.")
    carrier_hz: float = Field(gt=0, description="Radar carrier (24.125 GHz).")
    frames: int = Field(ge=1, le=1024, description="Back-to-back frames per window.")
    band: tuple[int, int] = Field(description="Signed bins lo .. hi - 1 read by the model.")
    hop_frames: int = Field(ge=1, le=1024, description="Frames between two windows.")
    db0: float = Field(description="dB of code 0.")
    step_db: float = Field(gt=0, description="dB per code step.")
    fill_db: float = Field(description="dB given to bins a band-mode line did not send.")
    max_gap_frames: int = Field(
        default=0, ge=0, description="Lost frames (sequence gap) a window may span."
    )
    cadence_tolerance: float = Field(
        default=0.25, gt=0, lt=1, description="Allowed relative error of the frame period."
    )
    units: str = Field(default="", description="What a code means, in words.")
    scaling: str = Field(default="", description="How codes become the model's input tensor.")
    layout: str = Field(default="", description="The tensor's axes, in words.")

    @property
    def bins(self) -> int:
        return self.band[1] - self.band[0]

    @property
    def frame_s(self) -> float:
        """Duration of one frame: the period of back-to-back frames."""
        return self.fft_size / self.sampling_rate_hz


class SpeedRefinement(_Strict):
    """The speed head's estimate refined on the spectrum itself: the power-weighted centre of
    the bins within ``half_width_mps`` of it, averaged over the last ``frames`` frames, counting
    only bins within ``floor_db`` of the strongest there and at least ``min_bin`` bins from 0 Hz
    (the static clutter)."""

    frames: int = Field(ge=1, le=1024, description="Last frames averaged.")
    half_width_mps: float = Field(gt=0, description="Half width of the search around the head.")
    floor_db: float = Field(gt=0, description="Bins this far below the strongest are ignored.")
    min_bin: int = Field(ge=0, description="Bins closer than this to 0 Hz are ignored.")


class CellSpec(_Strict):
    """The speed head's probabilities over frequency cells, an output of its own (since model
    1.3.0): for the labels named, the speed is the most probable cell's, centred on it and its
    two neighbours (their probability-weighted mean), instead of the expected speed over every
    cell, which lies between two lines when the head hesitates between two targets."""

    index: int = Field(ge=0, description="Output tensor of per-label cell probabilities.")
    count: int = Field(ge=3, le=4096, description="Cells per label.")
    first_mps: float = Field(description="Radial speed of the first cell's centre (m/s).")
    step_mps: float = Field(gt=0, description="Radial speed between two cells' centres (m/s).")
    peak_labels: tuple[str, ...] = Field(
        default=(), description="Labels whose speed is the peak cell's (the others: expectation)."
    )

    def peak_speed(self, probabilities: npt.NDArray[np.float32]) -> float:
        """The probability-weighted centre of the most probable cell and its neighbours."""
        k = int(np.argmax(probabilities))
        lo, hi = max(0, k - 1), min(self.count, k + 2)
        weights = probabilities[lo:hi].astype(np.float64)
        centres = self.first_mps + self.step_mps * np.arange(lo, hi)
        total = float(weights.sum())
        return float((weights * centres).sum() / total) if total > 0 else float(centres[k - lo])


class OutputSpec(_Strict):
    presence_index: int = Field(ge=0, description="Output tensor of per-label probabilities.")
    speed_index: int = Field(ge=0, description="Output tensor of per-label radial speeds.")
    speed_scale_mps: float = Field(gt=0, description="Speed output x this = m/s (+ approaching).")
    presence: str = Field(default="", description="What the presence output means, in words.")
    speed: str = Field(default="", description="What the speed output means, in words.")
    cells: CellSpec | None = Field(
        default=None, description="The cell probabilities output and the labels that use it."
    )
    refine: dict[str, SpeedRefinement] = Field(
        default_factory=dict, description="Per label: how its speed is refined (none: the head's)."
    )


class VerdictMargins(_Strict):
    """Child or adult? Only when the model is sure enough: a person (child or adult present at
    its threshold) is a child when p(child) - p(adult) >= ``child``, an adult when
    p(adult) - p(child) >= ``adult``, otherwise unknown. Chosen on the validation split so that
    few adults are called children and few children adults (docs/radar_model.md)."""

    child: float = Field(default=0.0, ge=-1, le=2, description="Margin for a child verdict.")
    adult: float = Field(default=0.0, ge=-1, le=2, description="Margin for an adult verdict.")


PersonVerdict = Literal["child", "adult", "unknown"]


class ModelMetadata(BaseModel):
    """The metadata file; keys beyond these (training, evaluation) are kept but not read."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format: str
    name: str
    version: str
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    verdict_margins: VerdictMargins = Field(default_factory=VerdictMargins)
    input: InputSpec
    outputs: OutputSpec


def read_metadata(path: Path) -> ModelMetadata:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"model metadata {path} is missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError(f"model metadata {path}: cannot read it: {err}") from None
    try:
        data = json.loads(raw)
        meta = ModelMetadata.model_validate(data)
    except ValueError as err:  # json.JSONDecodeError and pydantic's ValidationError
        detail = err.errors()[0] if isinstance(err, ValidationError) else None
        where = ".".join(str(p) for p in detail["loc"]) + ": " + detail["msg"] if detail else err
        raise ModelError(f"model metadata {path} is not valid: {where}") from None
    if meta.format != METADATA_FORMAT:
        raise ModelError(f"model metadata {path}: format {meta.format!r} is not {METADATA_FORMAT}")
    if tuple(meta.labels) != LABELS:
        raise ModelError(
            f"model metadata {path}: labels {list(meta.labels)} are not {list(LABELS)}"
        )
    if set(meta.thresholds) != set(LABELS):
        raise ModelError(f"model metadata {path}: thresholds must name each of {list(LABELS)}")
    cells = meta.outputs.cells
    if cells is not None and not set(cells.peak_labels) <= set(LABELS):
        raise ModelError(
            f"model metadata {path}: outputs.cells.peak_labels {list(cells.peak_labels)} "
            f"name labels other than {list(LABELS)}"
        )
    return meta


def check_spec(spec: InputSpec, *, sampling_rate_hz: int, fft_size: int, source: str) -> None:
    """Raise ModelSpecError unless the sensor's settings are the ones the model assumes."""
    problems = []
    if spec.sampling_rate_hz != sampling_rate_hz:
        problems.append(
            f"the model was trained on {spec.sampling_rate_hz} Hz spectra, the kerb radar is "
            f"set to {sampling_rate_hz} Hz (radars.kerb.sample_rate_hz)"
        )
    if spec.fft_size != fft_size:
        problems.append(f"the model reads {spec.fft_size}-point FFTs, the sensor makes {fft_size}")
    half = spec.fft_size // 2
    if not -half <= spec.band[0] < spec.band[1] <= half:
        problems.append(f"band {list(spec.band)} is not inside the FFT's bins -{half}..{half - 1}")
    if problems:
        raise ModelSpecError(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class Prediction:
    """What the model saw in one window: per label a probability and a radial speed (m/s,
    positive = approaching; meaningful only where the label is present)."""

    scores: npt.NDArray[np.float32]
    speeds_mps: npt.NDArray[np.float32]

    def present(self, thresholds: Mapping[str, float]) -> tuple[str, ...]:
        return tuple(
            label
            for label, score in zip(LABELS, self.scores, strict=True)
            if score >= thresholds[label]
        )

    def margin(self) -> float:
        """p(child) - p(adult): the model's lean towards a child (it ranks children above
        adults a little better than p(child) alone: docs/radar_model.md)."""
        return float(self.scores[0] - self.scores[1])


def person_verdict(margin: float, margins: VerdictMargins) -> PersonVerdict:
    """The verdict on a person from ``Prediction.margin`` (or its mean over a track)."""
    if margin >= margins.child:
        return "child"
    if -margin >= margins.adult:
        return "adult"
    return "unknown"


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise ModelError(f"model file {path}: cannot read it: {err.strerror or err}") from None


class RadarModel:
    """A loaded, checked model. ``predict`` runs one window (not thread-safe: one worker)."""

    def __init__(self, model: TfliteModel, meta: ModelMetadata, path: Path) -> None:
        self.model = model
        self.meta = meta
        self.path = path
        self.spec = meta.input
        inputs, outputs = model.inputs, model.outputs
        shape = (1, self.spec.frames, self.spec.bins, 1)
        if len(inputs) != 1 or inputs[0].shape != shape:
            got = [list(t.shape) for t in inputs]
            raise ModelError(
                f"model file {path}: input tensors {got}, metadata promises {list(shape)}"
            )
        out = meta.outputs
        shapes: dict[int, tuple[int, ...]] = {
            out.presence_index: (1, len(LABELS)),
            out.speed_index: (1, len(LABELS)),
        }
        if out.cells is not None:
            shapes[out.cells.index] = (1, len(LABELS), out.cells.count)
        if len(shapes) != len(outputs) or any(
            i >= len(outputs) or outputs[i].shape != shape for i, shape in shapes.items()
        ):
            got = [list(t.shape) for t in outputs]
            promised = [list(shape) for _, shape in sorted(shapes.items())]
            raise ModelError(
                f"model file {path}: output tensors {got}, metadata promises {promised}"
            )
        self._input = inputs[0]

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        sampling_rate_hz: int,
        fft_size: int = 1024,
        runtime: Runtime | None = None,
    ) -> RadarModel:
        """Load ``path`` and its metadata (same name, ``.json``) and check it fits the sensor;
        raises ModelError (ModelSpecError for a specification that does not fit)."""
        meta_path = path.with_suffix(".json")
        if not path.exists():
            raise ModelError(f"model file {path} is missing")
        meta = read_metadata(meta_path)
        check_spec(
            meta.input, sampling_rate_hz=sampling_rate_hz, fft_size=fft_size, source=str(path)
        )
        if _sha256(path) != meta.model_sha256:
            raise ModelError(
                f"model file {path} is corrupt or replaced: its SHA-256 is not the one in "
                f"{meta_path.name}"
            )
        try:
            model = load_model(path, runtime)
        except (ModelLoadError, NoRuntimeError) as err:
            raise ModelError(str(err)) from None
        return cls(model, meta, path)

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.meta.thresholds)

    @property
    def verdict_margins(self) -> VerdictMargins:
        return self.meta.verdict_margins

    def describe(self) -> str:
        runtime = self.model.runtime
        return f"{self.meta.name} {self.meta.version} ({runtime.name} {runtime.version})"

    def predict(self, codes: npt.NDArray[np.uint8]) -> Prediction:
        """The prediction for one window of codes (frames, bins)."""
        spec = self.spec
        if codes.shape != (spec.frames, spec.bins):
            raise ValueError(f"a window is {spec.frames} x {spec.bins} codes, got {codes.shape}")
        tensor = self._input.quantise(codes.reshape(1, spec.frames, spec.bins, 1))
        raw = self.model.run([tensor])
        outputs = self.model.outputs
        out = self.meta.outputs
        presence = outputs[out.presence_index].dequantise(raw[out.presence_index])[0]
        speed = outputs[out.speed_index].dequantise(raw[out.speed_index])[0] * out.speed_scale_mps
        if out.cells is not None and out.cells.peak_labels:
            cells = outputs[out.cells.index].dequantise(raw[out.cells.index])[0]
            for i, label in enumerate(LABELS):
                if label in out.cells.peak_labels:
                    speed[i] = out.cells.peak_speed(cells[i])
        for i, label in enumerate(LABELS):
            if label in out.refine:
                speed[i] = refine_speed(codes, spec, float(speed[i]), out.refine[label])
        return Prediction(np.clip(presence, 0.0, 1.0).astype(np.float32), speed.astype(np.float32))


def refine_speed(
    codes: npt.NDArray[np.uint8], spec: InputSpec, coarse_mps: float, refine: SpeedRefinement
) -> float:
    """``coarse_mps`` moved to the centre of the spectral line near it (``SpeedRefinement``)."""
    resolution = (
        spec.sampling_rate_hz * (SPEED_OF_LIGHT_MPS / spec.carrier_hz) / (2 * spec.fft_size)
    )
    recent = codes[-refine.frames :].astype(np.float32) * spec.step_db + spec.db0
    profile = np.power(10.0, recent / 10.0).mean(axis=0)
    bins = np.arange(spec.band[0], spec.band[1])
    near = (np.abs(bins * resolution - coarse_mps) <= refine.half_width_mps) & (
        np.abs(bins) >= refine.min_bin
    )
    if not near.any():
        return coarse_mps
    power, chosen = profile[near], bins[near]
    keep = power >= power.max() * 10 ** (-refine.floor_db / 10)
    return float((power[keep] * chosen[keep]).sum() / power[keep].sum() * resolution)


def metadata_dict(meta: ModelMetadata) -> dict[str, Any]:
    """The whole metadata, unknown keys included (for status views)."""
    return meta.model_dump(mode="json")


def kmh(mps: float) -> float:
    return 3.6 * mps if math.isfinite(mps) else math.nan
