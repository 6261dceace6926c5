"""Inference off the warning path: a slow model never holds up the kerb radar's reader, windows
are dropped and counted when it falls behind, detections need consecutive windows, and health
says what is wrong (pole_agent/perception/kerb_inference.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import numpy.typing as npt
import pytest

from pole_agent.clock import ManualClock
from pole_agent.health import HealthBoard
from pole_agent.perception.kerb_frames import KerbFrames
from pole_agent.perception.kerb_inference import (
    HEALTH_NAME,
    RECENT_S,
    DetectionFilter,
    KerbInference,
)
from pole_agent.perception.radar_lines import SpectrumLine
from pole_agent.perception.radar_model import LABELS, InputSpec, Prediction, VerdictMargins
from pole_agent.ports import PedestrianKind, PedestrianSeen, VehicleApproaching
from tests.model.helpers import frames_of

SPEC = InputSpec(
    sampling_rate_hz=20000, fft_size=64, carrier_hz=24.125e9, frames=4, band=(-8, 8),
    hop_frames=2, db0=-20.0, step_db=0.5, fill_db=0.0,
)  # fmt: skip
THRESHOLDS = dict.fromkeys(LABELS, 0.5)


def _prediction(**scores: float) -> Prediction:
    values = np.array([scores.get(label, 0.0) for label in LABELS], np.float32)
    speeds = np.array([1.2, 1.4, 10.0, 4.0], np.float32)
    return Prediction(values, speeds)


class RecordingDetections:
    """The Detections port, recording every call (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pedestrians: list[PedestrianSeen] = []
        self.vehicles: list[VehicleApproaching] = []

    def pedestrian(self, seen: PedestrianSeen) -> None:
        with self.lock:
            self.pedestrians.append(seen)

    def vehicle(self, approaching: VehicleApproaching) -> None:
        with self.lock:
            self.vehicles.append(approaching)


class GatedClassifier:
    """Says "child" for every window, but only when the test opens the gate: a model as slow as
    the test wants. Records how many windows it was asked about."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0
        self.fail = False

    def predict(self, codes: npt.NDArray[np.uint8]) -> Prediction:
        self.entered.set()
        self.gate.wait()
        self.calls += 1
        if self.fail:
            raise RuntimeError("model exploded")
        return _prediction(child=0.9)


def _spectrum_lines(count: int, seq0: int = 0, t0: float = 1000.0) -> list[SpectrumLine]:
    codes = np.random.default_rng(2).integers(0, 256, (count, SPEC.bins), dtype=np.uint8)
    frames = frames_of(codes, SPEC, seq0=seq0, t0=t0)
    return [SpectrumLine(t0 + i * SPEC.frame_s, frame) for i, frame in enumerate(frames)]


def _state(health: HealthBoard) -> str | None:
    current = health.get(HEALTH_NAME)
    return None if current is None else current.state


def _wait(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_label_is_reported_after_consecutive_windows_as_one_track() -> None:
    f = DetectionFilter(THRESHOLDS, confirm=2)
    assert f.update(1.0, _prediction(child=0.9))[1] == []
    present, out = f.update(1.4, _prediction(child=0.9))
    assert present == ("child",)
    (seen,) = out
    assert isinstance(seen, PedestrianSeen)
    assert (seen.kind, seen.where, seen.range_m, seen.t) == ("child", "kerb", None, 1.4)
    again = f.update(1.8, _prediction(child=0.9))[1][0]
    assert isinstance(again, PedestrianSeen) and again.track_id == seen.track_id
    f.update(2.2, _prediction())  # gone: the next child is another track
    f.update(2.6, _prediction(child=0.9))
    later = f.update(3.0, _prediction(child=0.9))[1][0]
    assert isinstance(later, PedestrianSeen) and later.track_id != seen.track_id


@pytest.mark.parametrize(
    ("scores", "unsure_as", "kind"),
    [
        ({"child": 0.9, "adult": 0.2}, "child", "child"),  # a confident child
        ({"child": 0.6, "adult": 0.55}, "child", "child"),  # unsure: the safe side
        ({"child": 0.6, "adult": 0.55}, "unknown", "unknown"),
        ({"child": 0.1, "adult": 0.9}, "unknown", "adult"),  # a confident adult
        ({"child": 0.55, "adult": 0.95}, "unknown", "unknown"),  # adult, yet child present
    ],
)
def test_the_kind_reported_follows_the_verdict(
    scores: dict[str, float], unsure_as: PedestrianKind, kind: str
) -> None:
    margins = VerdictMargins(child=0.4, adult=0.3)
    f = DetectionFilter(THRESHOLDS, confirm=1, margins=margins, unsure_as=unsure_as)
    _, out = f.update(1.0, _prediction(**scores))
    (seen,) = out
    assert isinstance(seen, PedestrianSeen) and seen.kind == kind
    assert f.person is not None and f.person.confirmed and f.person.windows == 1


def test_one_person_track_while_child_and_adult_alternate() -> None:
    f = DetectionFilter(THRESHOLDS, confirm=2)
    f.update(1.0, _prediction(child=0.9))
    (first,) = f.update(1.4, _prediction(adult=0.9))[1]
    (second,) = f.update(1.8, _prediction(child=0.9))[1]
    assert isinstance(first, PedestrianSeen) and isinstance(second, PedestrianSeen)
    assert first.track_id == second.track_id
    f.update(2.2, _prediction())
    assert f.person is None


def test_vehicles_are_reported_approaching_with_speed_and_unknown_arrival() -> None:
    f = DetectionFilter(THRESHOLDS, confirm=1, mounting_angle_deg=60.0)
    _, out = f.update(5.0, _prediction(vehicle=0.99, adult=0.8))
    kinds = {type(d).__name__ for d in out}
    assert kinds == {"PedestrianSeen", "VehicleApproaching"}
    (vehicle,) = [d for d in out if isinstance(d, VehicleApproaching)]
    assert vehicle.speed_kmh == pytest.approx(10.0 * 3.6 / 0.5, abs=0.1)
    assert vehicle.arrival_s is None and vehicle.source == "radar.kerb.model"
    receding = Prediction(
        np.array([0, 0, 0.99, 0], np.float32), np.array([0, 0, -8, 0], np.float32)
    )
    present, out = DetectionFilter(THRESHOLDS, confirm=1).update(6.0, receding)
    assert present == () and out == []


def test_a_slow_model_never_holds_up_the_reader_and_drops_are_counted() -> None:
    clock = ManualClock(start_monotonic=1000.0)
    health = HealthBoard()
    detections = RecordingDetections()
    classifier = GatedClassifier()
    inference = KerbInference(
        classifier, SPEC, detections=detections, health=health, clock=clock,
        thresholds=THRESHOLDS, confirm_windows=2, queue_windows=2,
    )  # fmt: skip
    frames = KerbFrames()
    frames.subscribe(inference.on_frame)
    inference.start()
    try:
        lines = _spectrum_lines(200)
        started = time.monotonic()
        for line in lines[:4]:
            frames.on_parsed(line)
        assert classifier.entered.wait(10)
        for line in lines[4:]:  # the reader thread: the model is stuck on its first window
            frames.on_parsed(line)
        reader_s = time.monotonic() - started
        assert frames.counts["spectrum"] == 200
        windows = inference.counts["windows"]
        assert windows == 1 + (200 - 4) // 2
        # One window is with the model, two wait; every other one was dropped and counted.
        assert _wait(lambda: inference.counts["dropped"] == windows - 3)
        clock.advance(1.0)
        assert _wait(lambda: _state(health) == "degraded")
        assert "falls behind" in health.get(HEALTH_NAME).reason  # type: ignore[union-attr]
        assert classifier.calls == 0 and detections.pedestrians == []
        classifier.gate.set()
        assert _wait(lambda: inference.counts["classified"] == 3)
        clock.advance(RECENT_S + 1)
        assert _wait(lambda: _state(health) == "ok")
    finally:
        inference.stop()
    # Generous: 200 frames through the reader while the model was blocked the whole time.
    assert reader_s < 5.0
    assert len(detections.pedestrians) == 2  # windows 2 and 3: confirmed from the second on
    assert {p.kind for p in detections.pedestrians} == {"child"}


def test_a_failing_model_is_counted_and_reported_not_raised() -> None:
    clock = ManualClock()
    health = HealthBoard()
    classifier = GatedClassifier()
    classifier.fail = True
    classifier.gate.set()
    inference = KerbInference(
        classifier, SPEC, detections=None, health=health, clock=clock, thresholds=THRESHOLDS
    )
    inference.start()
    try:
        for line in _spectrum_lines(6):
            inference.on_frame(line)
        assert _wait(lambda: inference.counts["errors"] == 2)
        assert _wait(lambda: "model exploded" in health.get(HEALTH_NAME).reason)  # type: ignore[union-attr]
    finally:
        inference.stop()


def test_health_says_when_the_kerb_radar_sends_no_spectra_or_unusable_ones() -> None:
    clock = ManualClock()
    health = HealthBoard()
    inference = KerbInference(
        GatedClassifier(), SPEC, detections=None, health=health, clock=clock, thresholds=THRESHOLDS
    )
    now = clock.monotonic()
    assert inference.health_verdict(now)[0] == "ok"
    assert "no spectrum lines" in inference.health_verdict(now + RECENT_S + 1)[1]
    slow = _spectrum_lines(10)
    for i, line in enumerate(slow):  # ten frames a second: not back to back
        inference.on_frame(
            SpectrumLine(line.t, type(line.spectrum)(**{
                **{k: getattr(line.spectrum, k) for k in (
                    "seq", "sampling_rate_hz", "fft_size", "mode", "db0", "step_db", "runs",
                    "codes")},
                "uptime_s": 10.0 + 0.1 * i,
            }))
        )  # fmt: skip
    state, reason = inference.health_verdict(slow[-1].t + 1)
    assert state == "degraded" and "do not fit the model" in reason and "not back to back" in reason
