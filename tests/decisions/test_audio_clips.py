"""The shipped clips, checked as audio (rate, duration, level, not silent, matching their
manifest), and regenerated for real with espeak-ng."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from pole_agent.audio import synth
from pole_agent.audio.clips import CLIPS_DIR, ClipError, ClipLibrary, Pcm, read_wav
from pole_agent.config import ChildWarningConfig

RATE = 22050


def rms(pcm: Pcm) -> float:
    samples = pcm.astype(np.float64) / 32768.0
    return math.sqrt(float(np.mean(samples**2)))


def active_share(pcm: Pcm, window: int = 441) -> float:
    """Share of 20 ms windows louder than -40 dBFS: speech has pauses, a silent clip has none."""
    n = len(pcm) // window
    blocks = pcm[: n * window].astype(np.float64).reshape(n, window) / 32768.0
    levels = np.sqrt(np.mean(blocks**2, axis=1))
    return float(np.mean(levels > 0.01))


@pytest.fixture(scope="module")
def library() -> ClipLibrary:
    return ClipLibrary(CLIPS_DIR)


def test_manifest_lists_every_file_and_matches(library: ClipLibrary) -> None:
    manifest = json.loads((CLIPS_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sample_rate"] == RATE == library.sample_rate
    files = {p.name for p in CLIPS_DIR.glob("*.wav")}
    assert files == {entry["file"] for entry in manifest["clips"].values()}
    for name, entry in manifest["clips"].items():
        data = (CLIPS_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        pcm, rate = read_wav(data)
        assert rate == RATE
        assert len(pcm) / rate == pytest.approx(entry["duration_s"], abs=0.001)


@pytest.mark.parametrize(
    ("name", "language", "min_s", "max_s"),
    [
        ("car_coming_ko", "ko", 2.0, 7.0),
        ("car_coming_en", "en", 1.2, 5.0),
        ("wait_ko", "ko", 1.0, 5.0),
        ("chime", "", 0.3, 1.5),
        ("test_tone", "", 0.8, 2.0),
    ],
)
def test_clip_is_audible_audio(
    library: ClipLibrary, name: str, language: str, min_s: float, max_s: float
) -> None:
    clip = library.clips[name]
    assert clip.info.language == language
    assert (clip.info.kind == "speech") == bool(language)
    duration = len(clip.pcm) / clip.sample_rate
    assert min_s <= duration <= max_s
    peak = float(np.max(np.abs(clip.pcm.astype(np.int32)))) / 32768.0
    assert 0.6 <= peak <= 0.75  # normalised to about -3 dBFS, never clipped
    assert rms(clip.pcm) > 0.05  # not silent
    assert active_share(clip.pcm) > 0.4
    assert clip.pcm[0] == 0 and clip.pcm[-1] == 0  # padded: no click at either end


def test_child_message_clips_are_shipped(library: ClipLibrary) -> None:
    assert library.missing(ChildWarningConfig().message) == []
    assert (
        library.clips["car_coming_ko"].info.text == "차가 오고 있어요. 건너지 말고 기다려 주세요."
    )
    assert library.clips["car_coming_en"].info.text == "A car is coming. Please wait."


def test_render_scales_by_volume(library: ClipLibrary) -> None:
    full = library.render(("chime", "car_coming_en"), 1.0)
    quiet = library.render(("chime", "car_coming_en"), 0.3)
    assert len(full) == len(library.clips["chime"].pcm) + len(library.clips["car_coming_en"].pcm)
    assert rms(quiet) == pytest.approx(0.3 * rms(full), rel=0.01)
    assert not np.any(library.render(("chime",), 0.0))


def test_a_damaged_clip_is_found_at_load(tmp_path: Path) -> None:
    copy = tmp_path / "clips"
    shutil.copytree(CLIPS_DIR, copy)
    data = bytearray((copy / "chime.wav").read_bytes())
    data[200] ^= 0xFF
    (copy / "chime.wav").write_bytes(bytes(data))
    with pytest.raises(ClipError, match=r"chime.*sha256"):
        ClipLibrary(copy)


def test_a_missing_manifest_is_found_at_load(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match=r"manifest\.json: cannot read"):
        ClipLibrary(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ClipError, match="no 'clips'"):
        ClipLibrary(tmp_path)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_regeneration_runs_espeak_ng(tmp_path: Path) -> None:
    manifest = synth.build(tmp_path)
    fresh = ClipLibrary(tmp_path)
    shipped = ClipLibrary(CLIPS_DIR)
    assert set(fresh.clips) == set(shipped.clips)
    clips = manifest["clips"]
    assert isinstance(clips, dict)
    for name, clip in fresh.clips.items():
        old = shipped.clips[name]
        assert (clip.info.text, clip.info.language, clip.info.kind) == (
            old.info.text,
            old.info.language,
            old.info.kind,
        )
        assert clip.sample_rate == RATE
        # Another espeak-ng version may speak a little faster or slower, never wildly.
        assert clip.info.duration_s == pytest.approx(old.info.duration_s, rel=0.35)
        assert rms(clip.pcm) > 0.05
        assert active_share(clip.pcm) > 0.4


def test_synthesis_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(synth.SynthError, match="espeak-ng is not installed"):
        synth.speak("hello", "en", 150)
