"""The shipped clips and their manifest (``clips/manifest.json``), loaded and checked.

Each clip is a 16-bit mono WAV at the manifest's sample rate; the manifest gives its text and
language (empty for tones), its duration and its sha256, so that a damaged or replaced file is
found at start-up rather than when a child is waiting. ``synth.py`` regenerates them.
"""

from __future__ import annotations

import hashlib
import io
import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

CLIPS_DIR = Path(__file__).resolve().parent / "clips"
MANIFEST = "manifest.json"

Pcm = npt.NDArray[np.int16]


class ClipError(Exception):
    """A clip or the manifest is missing, damaged or inconsistent; the message says which."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """A manifest entry."""

    name: str
    file: str
    kind: str
    text: str
    language: str
    duration_s: float
    sha256: str


@dataclass(frozen=True, slots=True)
class Clip:
    info: ClipInfo
    pcm: Pcm
    sample_rate: int


def read_wav(data: bytes) -> tuple[Pcm, int]:
    """Samples and rate of a 16-bit mono WAV; ClipError otherwise."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise ClipError(
                    f"expected 16-bit mono, got {wav.getnchannels()} channel(s) of "
                    f"{8 * wav.getsampwidth()} bits"
                )
            frames = wav.readframes(wav.getnframes())
            rate = wav.getframerate()
    except (wave.Error, EOFError) as err:
        raise ClipError(f"not a WAV file: {err}") from None
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate


def wav_bytes(pcm: Pcm, sample_rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


def _entry(name: str, raw: object) -> ClipInfo:
    if not isinstance(raw, dict):
        raise ClipError(f"manifest: clip {name!r} is not an object")
    try:
        return ClipInfo(
            name=name,
            file=str(raw["file"]),
            kind=str(raw["kind"]),
            text=str(raw.get("text", "")),
            language=str(raw.get("language", "")),
            duration_s=float(raw["duration_s"]),
            sha256=str(raw["sha256"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ClipError(f"manifest: clip {name!r}: missing or bad {err}") from None


def read_manifest(folder: Path) -> tuple[int, dict[str, ClipInfo]]:
    """The sample rate and entries of ``folder/manifest.json``."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ClipError(f"{path}: cannot read: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ClipError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips"), dict):
        raise ClipError(f"{path}: no 'clips' object")
    rate = data.get("sample_rate")
    if not isinstance(rate, int) or rate <= 0:
        raise ClipError(f"{path}: bad sample_rate {rate!r}")
    return rate, {name: _entry(name, raw) for name, raw in data["clips"].items()}


class ClipLibrary:
    """Every clip of a folder, checked against its manifest and held in memory (a few hundred
    kilobytes), so playing one never waits on the SD card."""

    def __init__(self, folder: Path = CLIPS_DIR) -> None:
        self.folder = folder
        self.sample_rate, entries = read_manifest(folder)
        self.clips: dict[str, Clip] = {}
        for name, info in entries.items():
            path = folder / info.file
            try:
                data = path.read_bytes()
            except OSError as err:
                raise ClipError(f"clip {name}: cannot read {path}: {err.strerror or err}") from None
            if hashlib.sha256(data).hexdigest() != info.sha256:
                raise ClipError(f"clip {name}: {path} does not match its sha256 in the manifest")
            try:
                pcm, rate = read_wav(data)
            except ClipError as err:
                raise ClipError(f"clip {name}: {path}: {err}") from None
            if rate != self.sample_rate:
                raise ClipError(f"clip {name}: {rate} Hz, the manifest says {self.sample_rate}")
            self.clips[name] = Clip(info, pcm, rate)

    def missing(self, names: tuple[str, ...]) -> list[str]:
        return [name for name in names if name not in self.clips]

    def render(self, names: tuple[str, ...], volume: float) -> Pcm:
        """The named clips one after another, scaled by ``volume`` (0..1)."""
        parts = [self.clips[name].pcm for name in names]
        joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        scaled = np.clip(joined.astype(np.float32) * max(0.0, min(1.0, volume)), -32768, 32767)
        result: Pcm = scaled.astype(np.int16)
        return result
