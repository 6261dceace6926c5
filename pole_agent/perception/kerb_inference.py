"""The kerb radar model in the agent: off the warning path, on its own thread.

The kerb radar's reader thread hands every frame to ``KerbInference.on_frame`` (a
``PedestrianFrames`` subscriber). Spectrum frames are windowed there (cheap: a crop and a
quantisation) and a due window goes into a queue of ``queue_windows``; when the queue is full the
oldest window is dropped and counted, so the reader never waits for the model. The inference
thread classifies windows and reports what it saw on the Detections port ("child at the kerb",
"vehicle approaching at v km/h, arrival unknown") once a label has been present in
``confirm_windows`` consecutive windows, so one odd window never makes a warning.

Health, as component ``model.radar`` (a capability: its loss degrades the pole, never blinds
it): ``ok`` while it runs; ``degraded`` while it falls behind (windows dropped in the last
``RECENT_S``), while classification fails, when the kerb radar sends no spectrum lines, or when
its spectra do not fit the model (wrong settings or cadence). ``app.py`` reports ``failed`` when
no usable model could be loaded at start-up.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from pole_agent.health import HealthBoard, HealthState
from pole_agent.perception.kerb_frames import KerbFrame
from pole_agent.perception.kerb_pedestrians import KerbPedestrianLog, PersonTrack
from pole_agent.perception.radar_lines import SpectrumLine
from pole_agent.perception.radar_model import LABELS, InputSpec, Prediction, VerdictMargins
from pole_agent.perception.spectrum_window import SpectrumWindower
from pole_agent.ports import (
    Clock,
    Detections,
    PedestrianKind,
    PedestrianSeen,
    VehicleApproaching,
)

log = logging.getLogger(__name__)

HEALTH_NAME: Final = "model.radar"
SOURCE: Final = "radar.kerb.model"
RECENT_S: Final = 10.0
"""How far back (agent seconds) drops, errors and unusable spectra count for health."""
MIN_APPROACH_MPS: Final = 0.5
"""A vehicle's radial speed must exceed this (inbound) to be reported as approaching."""


class WindowClassifier(Protocol):
    """Classifies one window of codes (frames, bins): ``RadarModel`` is the real one. Called from
    the inference thread only; may take its time, may raise."""

    def predict(self, codes: npt.NDArray[np.uint8]) -> Prediction: ...


Detection = PedestrianSeen | VehicleApproaching


class DetectionFilter:
    """Predictions to detections (pure). A person (child or adult present) and a vehicle each
    count once present in ``confirm`` consecutive windows; each run of windows is one track
    (``track_id``). The person's kind on the Detections port: ``child`` when the track's verdict
    is child (``PersonTrack.verdict``), ``adult`` when it is adult and this window's child
    probability is under its threshold, otherwise ``unsure_as`` (``child`` by default: the
    warning rules err on the side of a child, since the radar rarely knows)."""

    def __init__(
        self,
        thresholds: Mapping[str, float],
        confirm: int,
        mounting_angle_deg: float = 0.0,
        *,
        margins: VerdictMargins | None = None,
        unsure_as: PedestrianKind = "child",
    ) -> None:
        self.thresholds = dict(thresholds)
        self.confirm = confirm
        self.margins = margins or VerdictMargins()
        self.unsure_as: PedestrianKind = unsure_as
        self._cos = math.cos(math.radians(mounting_angle_deg))
        self._streak: Counter[str] = Counter()
        self._track: dict[str, int] = {}
        self._next_track = 1
        self.person: PersonTrack | None = None
        """The current run of windows with a person (None: nobody in the last window)."""

    def _run(self, name: str, there: bool) -> int | None:
        """The track id of ``name`` once confirmed in this window, else None."""
        if not there:
            self._streak[name] = 0
            return None
        self._streak[name] += 1
        if self._streak[name] == 1:
            self._track[name] = self._next_track
            self._next_track += 1
        return self._track[name] if self._streak[name] >= self.confirm else None

    def update(self, t: float, prediction: Prediction) -> tuple[tuple[str, ...], list[Detection]]:
        """The labels present in this window and the detections to report."""
        present = set(prediction.present(self.thresholds))
        vehicle = LABELS.index("vehicle")
        speed_mps = float(prediction.speeds_mps[vehicle])
        if "vehicle" in present and speed_mps <= MIN_APPROACH_MPS:
            present.discard("vehicle")  # receding or crossing: no danger to report
        out: list[Detection] = []
        someone = "child" in present or "adult" in present
        track = self._run("person", someone)
        if not someone:
            self.person = None
        else:
            person = self.person
            if person is None or self._streak["person"] == 1:
                person = self.person = PersonTrack(self._track["person"], t, t)
            person.add(t, prediction)
            if track is not None:
                if not person.confirmed:
                    person.confirmed, person.confirmed_t = True, t
                kind = self._kind(person, "child" in present)
                out.append(PedestrianSeen(t, kind, "kerb", None, SOURCE, track))
        track = self._run("vehicle", "vehicle" in present)
        if track is not None:
            kmh = 3.6 * speed_mps / self._cos
            out.append(VehicleApproaching(t, round(kmh, 1), None, None, SOURCE, track))
        return tuple(label for label in LABELS if label in present), out

    def _kind(self, person: PersonTrack, child_present: bool) -> PedestrianKind:
        verdict = person.verdict(self.margins)
        if verdict == "child":
            return "child"
        if verdict == "adult" and not child_present:
            return "adult"
        return self.unsure_as


@dataclass(frozen=True)
class Seen:
    """The last classified window, for status views."""

    t: float
    present: tuple[str, ...]
    prediction: Prediction


class KerbInference:
    """Windows spectrum frames, classifies them on its own thread, reports detections."""

    def __init__(
        self,
        classifier: WindowClassifier,
        spec: InputSpec,
        *,
        detections: Detections | None,
        health: HealthBoard,
        clock: Clock,
        thresholds: Mapping[str, float],
        confirm_windows: int = 2,
        queue_windows: int = 2,
        mounting_angle_deg: float = 0.0,
        description: str = "kerb radar model",
        model_name: str = "",
        model_version: str = "",
        pedestrian_log: KerbPedestrianLog | None = None,
        margins: VerdictMargins | None = None,
        unsure_as: PedestrianKind = "child",
    ) -> None:
        self.classifier = classifier
        self._detections = detections
        self._health = health
        self._clock = clock
        self._description = description
        self.model_name = model_name
        self.model_version = model_version
        """For the birth message (telemetry)."""
        self.windower = SpectrumWindower(spec)
        self.filter = DetectionFilter(
            thresholds, confirm_windows, mounting_angle_deg, margins=margins, unsure_as=unsure_as
        )
        self.pedestrian_log = pedestrian_log
        """Turns confirmed pedestrians into events/pedestrian messages (telemetry)."""
        self._queue: deque[tuple[float, npt.NDArray[np.uint8]]] = deque()
        self._queue_max = queue_windows
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts: Counter[str] = Counter()
        """spectra, windows, dropped, classified, errors, and detections by kind."""
        self.last: Seen | None = None
        self._started_t = clock.monotonic()
        self._recent: dict[str, float] = {}
        self._last_error = ""

    # -- the kerb radar's reader thread ----------------------------------------------------------

    def on_frame(self, frame: KerbFrame) -> None:
        """A ``PedestrianFrames`` handler: never waits for the model."""
        if not isinstance(frame, SpectrumLine):
            return
        now = frame.t
        self.counts["spectra"] += 1
        before = self._restarts()
        window = self.windower.push(frame.spectrum)
        if window is None:
            if self._restarts() > before:
                self._recent["misfit"] = now
            return
        with self._cond:
            self.counts["windows"] += 1
            dropped = len(self._queue) >= self._queue_max
            if dropped:
                self._queue.popleft()
                self.counts["dropped"] += 1
                self._recent["dropped"] = now
            self._queue.append((now, window))
            self._cond.notify()
        if dropped:  # the inference thread may be stuck: say so from here
            self._report(now)

    def _restarts(self) -> int:
        counts = self.windower.counts
        return counts["settings"] + counts["gap"] + counts["cadence"]

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._started_t = self._clock.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kerb-inference", daemon=True)
        self._thread.start()
        self._report(self._started_t)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self.pedestrian_log is not None:
            self.pedestrian_log.flush()

    # -- the inference thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if not self._queue:
                    self._cond.wait(timeout=0.5)
                item = self._queue.popleft() if self._queue else None
            if item is not None:
                self._classify(*item)
            self._report(self._clock.monotonic())

    def _classify(self, t: float, window: npt.NDArray[np.uint8]) -> None:
        try:
            prediction = self.classifier.predict(window)
        except Exception as err:
            self.counts["errors"] += 1
            self._recent["error"] = self._clock.monotonic()
            self._last_error = f"{err.__class__.__name__}: {err}"
            log.exception("kerb radar model failed on a window")
            return
        self.counts["classified"] += 1
        present, detections = self.filter.update(t, prediction)
        self.last = Seen(t, present, prediction)
        if self.pedestrian_log is not None:
            self.pedestrian_log.on_window(t, self.filter.person)
        if self._detections is None:
            return
        for detection in detections:
            kind = detection.kind if isinstance(detection, PedestrianSeen) else "vehicle"
            self.counts[f"reported_{kind}"] += 1
            if isinstance(detection, PedestrianSeen):
                self._detections.pedestrian(detection)
            else:
                self._detections.vehicle(detection)

    def _report(self, now: float) -> None:
        state, reason = self.health_verdict(now)
        self._health.report(HEALTH_NAME, state, reason, now)

    def health_verdict(self, now: float) -> tuple[HealthState, str]:
        def recent(key: str) -> bool:
            return key in self._recent and now - self._recent[key] <= RECENT_S

        if recent("dropped"):
            return "degraded", "inference falls behind the kerb radar: windows are dropped"
        if recent("error"):
            return "degraded", f"inference failed: {self._last_error}"
        if self.counts["spectra"] == 0 and now - self._started_t > RECENT_S:
            return "degraded", "no spectrum lines from the kerb radar (spectrum output off?)"
        if recent("misfit") and (self.last is None or now - self.last.t > RECENT_S):
            counts = self.windower.counts
            worst = max(("settings", "cadence", "gap"), key=lambda key: counts[key])
            why = {
                "settings": "another sampling rate or FFT size",
                "cadence": "frames not back to back",
                "gap": "frames lost",
            }[worst]
            return "degraded", f"kerb spectra do not fit the model ({why})"
        return "ok", f"running {self._description}"
