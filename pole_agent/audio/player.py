"""Playing clips on the pole's speaker, in a thread of its own (VoiceOutput port).

``play`` returns at once: the warning path never waits for audio. The speaker thread enables
the amplifier, waits ``amp_warmup_s`` (on the agent's clock), hands the rendered clips to a
backend and disables the amplifier again. One message is queued at most: a request while one
plays or waits is refused (the policy's cool-down makes that rare) rather than piling up stale
messages.

Backends: ``AplayBackend`` pipes a WAV to ALSA's ``aplay`` (the volume is applied to the samples,
so no mixer is needed); ``RecordingBackend`` records what would have played and takes the clip's
duration on the agent's clock (simulator, tests, hardware-free runs).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pole_agent.audio.clips import ClipLibrary, Pcm, wav_bytes
from pole_agent.ports import Clock

log = logging.getLogger(__name__)


class AudioError(Exception):
    """The backend could not play (no device, aplay missing or failing)."""


@dataclass(frozen=True, slots=True)
class Played:
    """One message as it went (or would have gone) to the speaker."""

    t: float
    """Agent monotonic time playback started (after the amplifier warm-up)."""
    clips: tuple[str, ...]
    volume: float
    reason: str
    duration_s: float
    rms: float
    """Root mean square level of the samples sent, as a share of full scale."""
    peak: float
    sample_rate: int


class Backend(Protocol):
    def play(self, pcm: Pcm, sample_rate: int) -> None: ...


class AplayBackend:
    """ALSA through ``aplay`` reading a WAV from its standard input."""

    def __init__(self, device: str = "default") -> None:
        self.device = device

    def play(self, pcm: Pcm, sample_rate: int) -> None:
        duration = len(pcm) / sample_rate
        command = ["aplay", "-q", "-D", self.device, "-t", "wav", "-"]
        try:
            done = subprocess.run(
                command,
                input=wav_bytes(pcm, sample_rate),
                capture_output=True,
                timeout=duration + 10.0,
                check=False,
            )
        except FileNotFoundError:
            raise AudioError("aplay is not installed (apt-get install alsa-utils)") from None
        except subprocess.TimeoutExpired:
            raise AudioError(f"aplay did not finish within {duration + 10:.0f} s") from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()[:200]
            raise AudioError(f"aplay -D {self.device} failed ({done.returncode}): {message}")


class RecordingBackend:
    """Plays nothing: keeps the samples that would have played (the last few) and takes the
    clip's duration on the agent's clock, as a speaker would."""

    def __init__(self, clock: Clock, keep: int = 20) -> None:
        self._clock = clock
        self.samples: deque[tuple[Pcm, int]] = deque(maxlen=keep)

    def play(self, pcm: Pcm, sample_rate: int) -> None:
        self.samples.append((pcm, sample_rate))
        self._clock.sleep(len(pcm) / sample_rate)


@dataclass(frozen=True, slots=True)
class _Request:
    clips: tuple[str, ...]
    volume: float
    reason: str


class ClipPlayer:
    """The VoiceOutput: a speaker thread in front of a backend."""

    def __init__(
        self,
        library: ClipLibrary,
        backend: Backend,
        clock: Clock,
        *,
        amp: Callable[[bool], None] = lambda on: None,
        amp_warmup_s: float = 0.1,
        on_error: Callable[[str], None] = lambda reason: None,
        on_ok: Callable[[], None] = lambda: None,
    ) -> None:
        self._library = library
        self._backend = backend
        self._clock = clock
        self._amp = amp
        self._warmup_s = amp_warmup_s
        self._on_error = on_error
        self._on_ok = on_ok
        self._queue: queue.Queue[_Request | None] = queue.Queue(maxsize=1)
        self._busy = threading.Event()
        self.played: deque[Played] = deque(maxlen=100)
        self.refused = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._busy.is_set() or not self._queue.empty()

    def play(self, clips: tuple[str, ...], volume: float, reason: str) -> bool:
        missing = self._library.missing(clips)
        if missing or not clips:
            log.error("cannot play %s: unknown clip(s) %s", clips, missing)
            self.refused += 1
            return False
        if self._busy.is_set():
            self.refused += 1
            return False
        try:
            self._queue.put_nowait(_Request(clips, volume, reason))
        except queue.Full:
            self.refused += 1
            return False
        return True

    def _run(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            self._busy.set()
            try:
                self._play(request)
            finally:
                self._busy.clear()

    def _play(self, request: _Request) -> None:
        self._amp(True)  # first: the amplifier warms up while the samples are prepared
        enabled = self._clock.monotonic()
        rate = self._library.sample_rate
        try:
            pcm = self._library.render(request.clips, request.volume)
            samples = pcm.astype(np.float64) / 32768.0
            left = self._warmup_s - (self._clock.monotonic() - enabled)
            if left > 0:
                self._clock.sleep(left)
            started = self._clock.monotonic()
            self._backend.play(pcm, rate)
        except AudioError as err:
            self.failures += 1
            log.warning("speaker: %s", err)
            self._on_error(str(err))
            return
        except Exception as err:  # a backend bug must not kill the speaker thread
            self.failures += 1
            log.exception("speaker: playback failed")
            self._on_error(f"playback failed: {err}")
            return
        finally:
            self._amp(False)
        self._on_ok()
        self.played.append(
            Played(
                t=started,
                clips=request.clips,
                volume=request.volume,
                reason=request.reason,
                duration_s=len(pcm) / rate,
                rms=float(math.sqrt(np.mean(samples**2))) if len(samples) else 0.0,
                peak=float(np.max(np.abs(samples))) if len(samples) else 0.0,
                sample_rate=rate,
            )
        )
        log.info(
            "speaker: played %s at volume %g (%s)",
            ",".join(request.clips),
            request.volume,
            request.reason,
        )

    def close(self, timeout: float = 2.0) -> None:
        """Stop the speaker thread; a message still waiting is dropped."""
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
        self._thread.join(timeout=timeout)


class SilentVoice:
    """``audio.player = "off"``: plays nothing, says so once."""

    def __init__(self) -> None:
        self.refused = 0

    def play(self, clips: tuple[str, ...], volume: float, reason: str) -> bool:
        if self.refused == 0:
            log.warning("audio player is off: spoken warnings are not played")
        self.refused += 1
        return False

    def close(self) -> None:
        return None
