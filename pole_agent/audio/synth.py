"""Regenerates the shipped clips: speech with espeak-ng, tones with numpy, and the manifest.

Run ``python -m pole_agent.audio.synth`` (default: into pole_agent/audio/clips) after changing a
text below; commit the WAVs and manifest.json together. Needs the Debian package ``espeak-ng``
(scripts/bootstrap installs it). The pole itself never synthesises: it plays the shipped files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pole_agent.audio.clips import CLIPS_DIR, MANIFEST, Pcm, read_wav, wav_bytes

SAMPLE_RATE = 22050
"""espeak-ng's own rate; the tones are made at the same rate so clips can be joined."""
PEAK = 0.7
"""Every clip is normalised to this share of full scale (about -3 dBFS), so the volume setting
means the same for each."""
PAD_S = 0.08


@dataclass(frozen=True)
class Speech:
    name: str
    text: str
    language: str
    voice: str
    words_per_minute: int


@dataclass(frozen=True)
class Tone:
    name: str
    notes: tuple[tuple[float, float], ...]
    """(frequency Hz, seconds) one after another."""


SPEECH = (
    Speech("car_coming_ko", "차가 오고 있어요. 건너지 말고 기다려 주세요.", "ko", "ko", 140),
    Speech("car_coming_en", "A car is coming. Please wait.", "en", "en-us", 150),
    Speech("wait_ko", "잠깐! 기다려 주세요.", "ko", "ko", 140),
)
TONES = (
    Tone("chime", ((880.0, 0.22), (660.0, 0.32))),
    Tone("test_tone", ((1000.0, 1.0),)),
)


class SynthError(RuntimeError):
    pass


def speak(text: str, voice: str, words_per_minute: int) -> Pcm:
    """Speech from espeak-ng, as 16-bit samples at SAMPLE_RATE."""
    try:
        done = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except FileNotFoundError:
        raise SynthError("espeak-ng is not installed (apt-get install espeak-ng)") from None
    if done.returncode != 0 or not done.stdout:
        raise SynthError(f"espeak-ng failed ({done.returncode}): {done.stderr.decode()[:200]}")
    pcm, rate = read_wav(done.stdout)
    if rate != SAMPLE_RATE:
        raise SynthError(f"espeak-ng made {rate} Hz, expected {SAMPLE_RATE}")
    return pcm


def tone(notes: tuple[tuple[float, float], ...]) -> Pcm:
    """Sine notes with 10 ms fades (no clicks)."""
    parts = []
    for freq, seconds in notes:
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        wave = np.sin(2 * np.pi * freq * t)
        fade = min(len(t) // 2, int(0.01 * SAMPLE_RATE))
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
        parts.append(wave)
    return (np.concatenate(parts) * 32767).astype(np.int16)


def finish(pcm: Pcm) -> Pcm:
    """Trim leading and trailing silence, normalise the peak, pad both ends."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    if len(loud) == 0:
        raise SynthError("the clip is silent")
    body = pcm[loud[0] : loud[-1] + 1].astype(np.float64)
    body *= PEAK * 32767 / np.max(np.abs(body))
    pad = np.zeros(int(PAD_S * SAMPLE_RATE))
    return np.concatenate([pad, body, pad]).round().astype(np.int16)


def build(out: Path) -> dict[str, object]:
    """Write every clip and the manifest into ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str, str, str, Pcm]] = []
    for speech in SPEECH:
        pcm = speak(speech.text, speech.voice, speech.words_per_minute)
        made.append((speech.name, "speech", speech.text, speech.language, finish(pcm)))
    for item in TONES:
        made.append((item.name, "tone", "", "", finish(tone(item.notes))))
    clips: dict[str, object] = {}
    for name, kind, text, language, pcm in made:
        data = wav_bytes(pcm, SAMPLE_RATE)
        (out / f"{name}.wav").write_bytes(data)
        clips[name] = {
            "file": f"{name}.wav",
            "kind": kind,
            "text": text,
            "language": language,
            "duration_s": round(len(pcm) / SAMPLE_RATE, 3),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    manifest: dict[str, object] = {
        "sample_rate": SAMPLE_RATE,
        "generator": "python -m pole_agent.audio.synth (espeak-ng, numpy)",
        "clips": clips,
    }
    (out / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pole_agent.audio.synth", description=__doc__)
    parser.add_argument("--out", type=Path, default=CLIPS_DIR, help="output folder")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out)
    except SynthError as err:
        print(f"synth: {err}", file=sys.stderr)
        return 1
    clips = manifest["clips"]
    assert isinstance(clips, dict)
    for name, entry in clips.items():
        print(f"{name}: {entry['duration_s']} s  {entry['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
