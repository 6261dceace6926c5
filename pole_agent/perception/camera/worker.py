"""The camera's detector thread: frames in, Detections port calls out, health said.

The capture thread (``drivers.camera``) hands each frame to ``LatestFrame.put``, which only puts
it in a one-frame slot and returns: a frame not yet taken is replaced by the newer one and
counted as dropped, so a slow detector always works on the newest frame and at most three frames
exist at once (one being read, one waiting, one being detected). This worker's own thread takes
the frame, runs the detector, drops the frame, places and tracks what was found (``scene``) and
calls the Detections port. Nothing on the warning path ever waits for it: the port's calls take
the warning lock only to record a detection.

Health (component ``name``: ``camera`` when the detector sees vehicles, ``model.camera`` when it
sees only people, so that a camera blind to vehicles never counts as a vehicle sensor): failed
while the capture has failed or ended or no frame has come for ``stale_after_s``; degraded while
the median inference time of the last ``BUDGET_WINDOW`` frames is over the budget; ok otherwise.
Reasons are stable words, so a health change is an event and not a stream of them.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from pole_agent.health import HealthBoard, HealthState
from pole_agent.perception.camera.detection import Detector, Frame
from pole_agent.perception.camera.scene import CameraScene
from pole_agent.ports import Clock, Detections

log = logging.getLogger(__name__)
T = TypeVar("T")

BUDGET_WINDOW = 10
POLL_S = 0.1
"""Real seconds the worker waits for a frame before it checks health again."""


class CaptureView(Protocol):
    """What the worker reads of the capture (``drivers.camera.CaptureStatus``)."""

    @property
    def state(self) -> str: ...

    @property
    def error(self) -> str: ...

    @property
    def last_frame_t(self) -> float | None: ...


class Capture(Protocol):
    def status(self) -> CaptureView: ...


class LatestFrame:
    """A one-slot mailbox between the capture thread and the detector thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[Frame, float] | None = None
        self.dropped = 0

    def put(self, frame: Frame, t: float) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = (frame, t)
            self._cond.notify()

    def take(self, timeout_s: float) -> tuple[Frame, float] | None:
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        with self._cond:
            self._item = None


class CameraWorker:
    def __init__(
        self,
        *,
        name: str,
        slot: LatestFrame,
        capture: Capture,
        detector: Detector,
        scene: CameraScene,
        port: Detections,
        clock: Clock,
        health: HealthBoard,
        budget_ms: float,
        stale_after_s: float,
    ) -> None:
        self.name = name
        self._capture = capture
        self._detector = detector
        self._scene = scene
        self._port = port
        self._clock = clock
        self._health = health
        self._budget_ms = budget_ms
        self._stale_after_s = stale_after_s
        self._slot = slot
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_t = clock.monotonic()
        self.inference_ms: deque[float] = deque(maxlen=BUDGET_WINDOW)
        self.counts: Counter[str] = Counter()
        """frames, detections, pedestrian_reports, vehicle_reports, errors, port_errors."""

    # -- the worker thread -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._started_t = self._clock.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-detector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._slot.clear()

    @property
    def dropped_frames(self) -> int:
        return self._slot.dropped

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._slot.take(POLL_S)
            if item is not None:
                frame, t = item
                del item
                self._process(frame, t)
                del frame
            self.check_health()

    def _process(self, frame: Frame, t: float) -> None:
        try:
            started = time.perf_counter()
            detections = self._detector.detect(frame)
            self.inference_ms.append((time.perf_counter() - started) * 1000)
            report = self._scene.on_frame(t, detections)
        except Exception:
            self.counts["errors"] += 1
            log.exception("%s: detection failed on a frame", self.name)
            return
        self.counts["frames"] += 1
        self.counts["detections"] += len(detections)
        for seen in report.pedestrians:
            self._call(self._port.pedestrian, seen, "pedestrian_reports")
        for coming in report.vehicles:
            self._call(self._port.vehicle, coming, "vehicle_reports")

    def _call(self, method: Callable[[T], None], value: T, counter: str) -> None:
        try:
            method(value)
            self.counts[counter] += 1
        except Exception:
            self.counts["port_errors"] += 1
            log.exception("%s: the Detections port refused a report", self.name)

    def check_health(self) -> None:
        """Report the camera's health from the capture's state, frame age and inference time."""
        now = self._clock.monotonic()
        state: HealthState
        status = self._capture.status()
        last = status.last_frame_t
        if status.state in ("failed", "ended"):
            state, reason = "failed", status.error or status.state
        elif last is None and now - self._started_t < self._stale_after_s:
            return  # starting: not yet judged
        elif last is None or now - last > self._stale_after_s:
            state, reason = "failed", f"no frame for more than {self._stale_after_s:g} s"
        elif (
            len(self.inference_ms) == BUDGET_WINDOW
            and statistics.median(self.inference_ms) > self._budget_ms
        ):
            state, reason = "degraded", f"inference over its {self._budget_ms:g} ms budget"
        else:
            state, reason = "ok", "frames and detections flowing"
        self._health.report(self.name, state, reason, now)
