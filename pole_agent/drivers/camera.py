"""The camera (OpenCV): the only module that imports ``cv2``.

``CameraCapture`` owns one capture in its own thread: it opens the source (a device index such
as ``0``, a stream URL, or a video file), reads frames at the configured rate, scales frames wider
than ``max_width`` down (aspect kept), converts them to RGB and hands each one, with its time on
the agent's clock, to a callback; then it lets go of it. It reopens a lost device or stream with
backoff (doubling up to ``reopen_max_s``). A video file is read at ``fps`` on the agent's clock
(so a simulated clock replays it at its own pace; ``paced=False`` reads it as fast as it decodes,
for benchmarks) and, with ``loop``, starts again at its end;
without it, its end is the end of the camera. ``status()`` says what the capture is doing; the
camera worker turns it into health.

Privacy (docs/camera.md): frames are only ever held in memory. Nothing here writes a frame
anywhere, with two deliberate exceptions that are not on the agent's path: ``write_video``
(the simulator and tests make video files with it) and ``encode_png`` (the commissioning snapshot
of the empty road, ``perception.camera.snapshot``).

OpenCV is the optional ``camera`` extra: without it this module still imports, and opening a
camera fails with a message that says what to install.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pole_agent.perception.camera.detection import Frame
from pole_agent.ports import Clock

try:
    import cv2
except ImportError as err:  # the optional `camera` extra is not installed
    _CV2_MISSING: str | None = f"OpenCV is not installed ({err}): pip install 'pole-agent[camera]'"
else:
    _CV2_MISSING = None

log = logging.getLogger(__name__)

FrameHandler = Callable[[Frame, float], None]
"""Called with each frame (RGB, uint8) and its time on the agent's monotonic clock."""
CaptureState = Literal["starting", "open", "failed", "ended", "stopped"]
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000
FIRST_RETRY_S = 0.5


class CameraUnavailable(Exception):  # noqa: N818 - like RadarUnavailable
    """The camera cannot be used (OpenCV missing, source cannot be opened or read)."""


def _require_cv2() -> None:
    if _CV2_MISSING is not None:
        raise CameraUnavailable(_CV2_MISSING)


def parse_source(source: str) -> int | str:
    """A device index for all-digit sources ('0' is /dev/video0), else the URL or path."""
    text = source.strip()
    return int(text) if text.isdigit() else text


def is_file_source(source: int | str) -> bool:
    return isinstance(source, str) and "://" not in source


def describe(source: int | str) -> str:
    if isinstance(source, int):
        return f"camera device {source}"
    if "://" in source:
        scheme, _, rest = source.partition("://")
        return f"stream {scheme}://{rest.rpartition('@')[2]}"  # no credentials in messages
    return f"video file {source}"


def _open(source: int | str) -> Any:
    """An opened ``cv2.VideoCapture``; raises CameraUnavailable."""
    _require_cv2()
    if is_file_source(source) and not os.path.isfile(str(source)):
        raise CameraUnavailable(f"{describe(source)} is missing")
    try:
        if isinstance(source, str) and "://" in source:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
            capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        else:
            capture = cv2.VideoCapture(source)
    except cv2.error as err:
        raise CameraUnavailable(f"{describe(source)}: {err}") from None
    if not capture.isOpened():
        capture.release()
        raise CameraUnavailable(f"cannot open {describe(source)}")
    return capture


def to_rgb(image: Any, max_width: int) -> Frame:
    """An OpenCV image (BGR, BGRA or grey) as RGB uint8, no wider than ``max_width``."""
    _require_cv2()
    height, width = image.shape[:2]
    if width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if image.ndim == 2:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


@dataclass(frozen=True)
class CaptureStatus:
    state: CaptureState = "starting"
    error: str = ""
    frames: int = 0
    opens: int = 0
    failures: int = 0
    handler_errors: int = 0
    skipped: int = 0
    """Frames of a video file skipped because their time had passed (the reader was late)."""
    last_frame_t: float | None = None


class CameraCapture:
    """Reads frames from one source in its own thread (see the module's docstring)."""

    def __init__(
        self,
        source: str,
        clock: Clock,
        on_frame: FrameHandler,
        *,
        fps: float,
        max_width: int = 640,
        loop: bool = False,
        reopen_max_s: float = 5.0,
        name: str = "camera",
        paced: bool = True,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.source = parse_source(source)
        self.name = name
        self._clock = clock
        self._on_frame = on_frame
        self._period = 1.0 / fps
        self._max_width = max_width
        self._loop = loop
        self._reopen_max_s = reopen_max_s
        self._paced = paced
        self._lock = threading.Lock()
        self._status = CaptureStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status(self) -> CaptureStatus:
        with self._lock:
            return self._status

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=READ_TIMEOUT_MS / 1000 + 2)
            self._thread = None
        self._set(state="stopped")

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` of the agent's clock; True when asked to stop meanwhile."""
        return self._stop.wait(max(0.0, seconds) / self._clock.factor)

    def _run(self) -> None:
        retry = FIRST_RETRY_S
        while not self._stop.is_set():
            try:
                capture = _open(self.source)
            except CameraUnavailable as err:
                self._fail(str(err))
                if self._wait(retry):
                    return
                retry = min(retry * 2, self._reopen_max_s)
                continue
            with self._lock:
                self._status = replace(
                    self._status, state="open", error="", opens=self._status.opens + 1
                )
            log.info("%s: opened %s", self.name, describe(self.source))
            try:
                ended = self._read(capture)
            except Exception as err:  # cv2.error and whatever a backend raises mid-stream
                self._fail(f"{describe(self.source)}: {err}")
                ended = False
            finally:
                capture.release()
            if ended:
                self._set(state="ended", error=f"{describe(self.source)} ended")
                log.warning("%s: %s ended (loop is off)", self.name, describe(self.source))
                return
            retry = FIRST_RETRY_S
            if self._wait(retry):
                return

    def _fail(self, reason: str) -> None:
        with self._lock:
            first = self._status.error != reason
            self._status = replace(
                self._status, state="failed", error=reason, failures=self._status.failures + 1
            )
        if first:
            log.warning("%s: %s", self.name, reason)

    def _read(self, capture: Any) -> bool:
        """Read until the source stops; True when a video file ended (and is not looped)."""
        if is_file_source(self.source):
            return self._read_file(capture)
        due = self._clock.monotonic()
        while not self._stop.is_set():
            ok, image = capture.read()
            if not ok or image is None:
                self._fail(f"no frame from {describe(self.source)} (unplugged or stream lost)")
                return False
            now = self._clock.monotonic()
            if now < due:
                continue  # a device faster than fps: take every n-th frame
            due = max(due + self._period, now)
            self._deliver(image, now)
        return False

    def _read_file(self, capture: Any) -> bool:
        """A video file played as a live camera would deliver it: frame k at ``start + k /
        fps`` on the agent's clock; a frame whose time has passed while the reader was held up
        is skipped (not decoded), as a live camera's would be lost, so that the file stays in
        step with the clock (and a tracked object's speed stays right)."""
        start = self._clock.monotonic()
        index = 0
        read_since_open = 0
        while not self._stop.is_set():
            due = start + index * self._period
            if not self._paced:  # benchmarks: every frame, as fast as it decodes
                due = self._clock.monotonic()
            late = self._clock.monotonic() - due > self._period
            if late:
                ok, image = capture.grab(), None
            else:
                if self._wait(due - self._clock.monotonic()):
                    return False
                ok, image = capture.read()
            if not ok or (not late and image is None):
                if self._loop and read_since_open > 0:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    read_since_open = 0
                    continue
                return True
            index += 1
            read_since_open += 1
            if late:
                with self._lock:
                    self._status = replace(self._status, skipped=self._status.skipped + 1)
            else:
                self._deliver(image, due)
        return False

    def _deliver(self, image: Any, t: float) -> None:
        frame = to_rgb(image, self._max_width)
        del image
        with self._lock:
            self._status = replace(self._status, frames=self._status.frames + 1, last_frame_t=t)
        try:
            self._on_frame(frame, t)
        except Exception:
            log.exception("%s: frame handler failed", self.name)
            with self._lock:
                self._status = replace(self._status, handler_errors=self._status.handler_errors + 1)


def grab_frame(source: str, *, max_width: int = 1920, settle_frames: int = 5) -> Frame:
    """One frame from ``source`` after ``settle_frames`` (exposure settles), for commissioning;
    raises CameraUnavailable."""
    capture = _open(parse_source(source))
    try:
        image = None
        for _ in range(max(1, settle_frames)):
            ok, latest = capture.read()
            if ok and latest is not None:
                image = latest
        if image is None:
            raise CameraUnavailable(f"no frame from {describe(parse_source(source))}")
        return to_rgb(image, max_width)
    finally:
        capture.release()


def encode_png(frame: Frame) -> bytes:
    """An RGB frame as PNG bytes (only the commissioning snapshot of the empty road uses it)."""
    _require_cv2()
    ok, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise CameraUnavailable("could not encode the frame as PNG")
    return bytes(data.tobytes())


def write_video(path: Path, frames: Iterable[Frame], fps: float) -> int:
    """Write RGB frames to an MJPEG .avi file (simulator and tests); returns how many."""
    _require_cv2()
    writer: Any = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"MJPG")
                writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
                if not writer.isOpened():
                    raise CameraUnavailable(f"cannot write a video file at {path}")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count
