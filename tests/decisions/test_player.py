"""The speaker thread: amplifier enable around playback, one message at a time, the recording
backend on the agent's clock, and aplay for real (to ALSA's null device)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable

import numpy as np
import pytest

from pole_agent.audio.clips import CLIPS_DIR, ClipLibrary, Pcm
from pole_agent.audio.player import AplayBackend, AudioError, ClipPlayer, RecordingBackend
from pole_agent.clock import ScaledClock
from tests.pole_rig import wait_until


class AmpLog:
    """Records amplifier switching with the clock's time."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.changes: list[tuple[bool, float]] = []

    def __call__(self, on: bool) -> None:
        self.changes.append((on, self.clock.monotonic()))


def wait(condition: Callable[[], bool]) -> bool:
    return wait_until(condition, 10.0)


@pytest.fixture(scope="module")
def library() -> ClipLibrary:
    return ClipLibrary(CLIPS_DIR)


def test_recorded_playback_holds_the_amplifier_for_the_clip(library: ClipLibrary) -> None:
    clock = ScaledClock(10.0)
    amp = AmpLog(clock)
    recorder = RecordingBackend(clock)
    player = ClipPlayer(library, recorder, clock, amp=amp, amp_warmup_s=0.1)
    try:
        assert player.play(("chime", "car_coming_en"), 0.5, "test") is True
        assert wait(lambda: len(player.played) == 1)
    finally:
        player.close()
    (played,) = player.played
    expected = (len(library.clips["chime"].pcm) + len(library.clips["car_coming_en"].pcm)) / 22050
    assert played.duration_s == pytest.approx(expected)
    assert played.clips == ("chime", "car_coming_en")
    assert played.volume == 0.5
    assert 0.3 < played.peak <= 0.36  # 0.7 of full scale, at half volume
    assert played.rms > 0.02
    (on, t_on), (off, t_off) = amp.changes
    assert (on, off) == (True, False)
    # Generous limits: a busy machine delays threads, and x10 makes 10 ms real 0.1 s simulated.
    assert 0.1 <= played.t - t_on <= 1.0
    # The amplifier stays on for the clip's duration on the agent's clock.
    assert t_off - played.t == pytest.approx(expected, abs=1.0)
    pcm, rate = recorder.samples[-1]
    assert rate == 22050 and len(pcm) == round(expected * 22050)


def test_one_message_at_a_time(library: ClipLibrary) -> None:
    clock = ScaledClock(5.0)
    player = ClipPlayer(library, RecordingBackend(clock), clock)
    try:
        assert player.play(("car_coming_ko",), 0.8, "first") is True
        assert wait(lambda: player.busy)
        assert player.play(("car_coming_en",), 0.8, "second") is False
        assert player.refused == 1
        assert player.play(("no_such_clip",), 0.8, "bad") is False
        assert player.refused == 2
    finally:
        player.close()


class FailingBackend:
    def __init__(self) -> None:
        self.calls = 0

    def play(self, pcm: Pcm, sample_rate: int) -> None:
        self.calls += 1
        raise AudioError("no sound card")


def test_backend_failure_is_reported_and_the_amp_goes_off(library: ClipLibrary) -> None:
    clock = ScaledClock(10.0)
    amp = AmpLog(clock)
    errors: list[str] = []
    done = threading.Event()

    def on_error(reason: str) -> None:
        errors.append(reason)
        done.set()

    player = ClipPlayer(library, FailingBackend(), clock, amp=amp, on_error=on_error)
    try:
        assert player.play(("chime",), 1.0, "x")
        assert done.wait(5.0)
        assert wait(lambda: len(amp.changes) == 2)
        # The thread lives on: the next message is accepted.
        assert wait(lambda: not player.busy)
        assert player.play(("chime",), 1.0, "y")
    finally:
        player.close()
    assert errors[0] == "no sound card"
    assert [on for on, _ in amp.changes[:2]] == [True, False]
    assert player.failures >= 1


@pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay (alsa-utils) not installed")
def test_aplay_plays_to_the_null_device(library: ClipLibrary) -> None:
    AplayBackend("null").play(library.render(("chime",), 0.5), 22050)


@pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay (alsa-utils) not installed")
def test_aplay_on_a_missing_device_raises_audio_error() -> None:
    with pytest.raises(AudioError, match="aplay -D hw:99 failed"):
        AplayBackend("hw:99").play(np.zeros(100, dtype=np.int16), 22050)
