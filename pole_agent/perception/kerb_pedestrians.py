"""The kerb model's pedestrians: the person track the detection filter follows, and one
``events/pedestrian`` message per person it followed (docs/mqtt.md).

A person track (``PersonTrack``) is a run of consecutive windows in which the model says a person
is there (child or adult at its presence threshold); it is confirmed after ``confirm_windows``.
Its verdict comes from the mean of p(child) - p(adult) over its windows against the metadata's
``verdict_margins``: child, adult, or unknown (most people, on simulated data: the radar barely
tells them apart, docs/radar_model.md).

``KerbPedestrianLog`` opens a record at a track's first confirmed window and closes it at the
first window without it (or when the model stops); then one event goes out with the track's first
and last confirmed times, ``child`` from the verdict (true, false, or null when unknown), the mean
child probability as ``child_confidence``, and whether the speaker warned while it was open (a
``child_warning`` decision triggered by this source that spoke). The radar cannot tell whether a
person was stepping into the road, so ``crossing`` is always false from here.

Pure and thread-safe: windows come from the inference thread, decisions from whichever thread
decided; the sink only queues (the reporter hands the message to the spool).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from pole_agent.perception.radar_model import (
    PersonVerdict,
    Prediction,
    VerdictMargins,
    person_verdict,
)

CHILD_WARNING: Final = "child_warning"


@dataclass
class PersonTrack:
    """A run of windows with a person in them (``DetectionFilter`` keeps the current one)."""

    track_id: int
    start_t: float
    last_t: float
    windows: int = 0
    margin_sum: float = 0.0
    p_child_sum: float = 0.0
    confirmed: bool = False
    confirmed_t: float = 0.0
    """Time of the first confirmed window."""

    def add(self, t: float, prediction: Prediction) -> None:
        self.last_t = t
        self.windows += 1
        self.margin_sum += prediction.margin()
        self.p_child_sum += float(prediction.scores[0])

    @property
    def p_child(self) -> float:
        return self.p_child_sum / max(self.windows, 1)

    def verdict(self, margins: VerdictMargins) -> PersonVerdict:
        return person_verdict(self.margin_sum / max(self.windows, 1), margins)


class Decision(Protocol):
    """The parts of a decision record (``pole_agent.decisions.warning_policy``) read here."""

    @property
    def kind(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, object]: ...

    @property
    def outputs(self) -> tuple[str, ...]: ...


class PedestrianSink(Protocol):
    """Where a finished track goes: ``Reporter.pedestrian`` (monotonic times in seconds)."""

    def __call__(
        self,
        *,
        pedestrian_id: int,
        start_t: float,
        end_t: float,
        child: bool | None,
        child_confidence: float | None,
        crossing: bool,
        source: str,
        warned: bool,
    ) -> None: ...


@dataclass
class _Record:
    pedestrian_id: int
    track_id: int
    start_t: float
    end_t: float
    verdict: PersonVerdict
    p_child: float
    warned: bool = False


def _spoke(outputs: Iterable[str]) -> bool:
    """Whether a decision's outputs include a voice clip actually played."""
    return any(
        out.startswith("voice:") and not out.startswith(("voice:none", "voice:held"))
        for out in outputs
    )


class KerbPedestrianLog:
    """The open record of the confirmed person track; emits one event per finished track."""

    def __init__(self, sink: PedestrianSink, source: str, margins: VerdictMargins) -> None:
        self._sink = sink
        self._source = source
        """The ``PedestrianSeen.source`` of the model's detections (decisions name it)."""
        self._margins = margins
        self._lock = threading.Lock()
        self._open: _Record | None = None
        self._next_id = 1
        self.published = 0

    def on_window(self, t: float, person: PersonTrack | None) -> None:
        """After each classified window: the filter's person track (None: nobody)."""
        finished = None
        with self._lock:
            record = self._open
            if record is not None and (person is None or person.track_id != record.track_id):
                finished, self._open = record, None
            if person is not None and person.confirmed:
                if self._open is None:
                    self._open = _Record(
                        self._next_id, person.track_id, person.confirmed_t, t, "unknown", 0.0
                    )
                    self._next_id += 1
                self._open.end_t = t
                self._open.verdict = person.verdict(self._margins)
                self._open.p_child = person.p_child
        if finished is not None:
            self._emit(finished)

    def on_decision(self, record: Decision) -> None:
        """A ``WarningOutputs`` listener: a spoken child warning triggered by this source marks
        the open record as warned."""
        if record.kind != CHILD_WARNING or record.inputs.get("pedestrian_source") != self._source:
            return
        if not _spoke(record.outputs):
            return
        with self._lock:
            if self._open is not None:
                self._open.warned = True

    def flush(self) -> None:
        """Close the open record (the model stops)."""
        with self._lock:
            finished, self._open = self._open, None
        if finished is not None:
            self._emit(finished)

    def _emit(self, record: _Record) -> None:
        self._sink(
            pedestrian_id=record.pedestrian_id,
            start_t=record.start_t,
            end_t=record.end_t,
            child=None if record.verdict == "unknown" else record.verdict == "child",
            child_confidence=round(min(max(record.p_child, 0.0), 1.0), 3),
            crossing=False,
            source="radar",
            warned=record.warned,
        )
        self.published += 1
