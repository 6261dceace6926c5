"""Shared pieces of the model tests: the shipped model, spectrum frames made from windows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import DEFAULT_MODEL, InputSpec, read_metadata
from pole_agent.perception.spectrum import SpectrumFrame, encode_spectrum

SHIPPED_META = DEFAULT_MODEL.with_suffix(".json")


def shipped_spec() -> InputSpec:
    return read_metadata(SHIPPED_META).input


def copy_model(tmp: Path, name: str = "radar_kerb") -> Path:
    """A copy of the shipped model and its metadata in ``tmp`` (to break on purpose)."""
    path = tmp / f"{name}.tflite"
    shutil.copyfile(DEFAULT_MODEL, path)
    shutil.copyfile(SHIPPED_META, path.with_suffix(".json"))
    return path


def edit_metadata(path: Path, **changes: object) -> None:
    """Change top-level or ``input`` keys (``input__band=[...]``) of a copied model's metadata."""
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    for key, value in changes.items():
        if key.startswith("input__"):
            meta["input"][key.removeprefix("input__")] = value
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta))


def frames_of(
    codes: npt.NDArray[np.uint8],
    spec: InputSpec,
    *,
    seq0: int = 0,
    t0: float = 10.0,
    runs: tuple[tuple[int, int], ...] | None = None,
) -> list[SpectrumFrame]:
    """Full-band (``F``) frames whose band holds ``codes`` (frames, bins) and whose other bins
    are at the noise floor, back to back; with ``runs``, band (``B``) frames of those runs."""
    n = spec.fft_size
    floor = round((0.0 - spec.db0) / spec.step_db)
    out = []
    for i, row in enumerate(codes):
        full = np.full(n, floor, np.uint8)
        full[n // 2 + spec.band[0] : n // 2 + spec.band[1]] = row
        chosen = runs or ((-n // 2, n),)
        kept = np.concatenate([full[s + n // 2 : s + n // 2 + c] for s, c in chosen])
        out.append(
            SpectrumFrame(
                seq=(seq0 + i) % 65536,
                uptime_s=t0 + i * spec.frame_s,
                sampling_rate_hz=spec.sampling_rate_hz,
                fft_size=n,
                mode="B" if runs else "F",
                db0=spec.db0,
                step_db=spec.step_db,
                runs=chosen,
                codes=kept,
            )
        )
    return out


def lines_of(frames: list[SpectrumFrame]) -> list[bytes]:
    return [encode_spectrum(frame) for frame in frames]
