"""The kerb model's pedestrians reach the city: each confirmed run of child or adult windows is
one events/pedestrian message, through the real reporter, spool and MQTT link to a real
Mosquitto and the reference consumer, with its boot id and seq, valid against its schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pole_agent.decisions.warning_policy import DecisionRecord
from pole_agent.perception.kerb_inference import SOURCE, DetectionFilter
from pole_agent.perception.kerb_pedestrians import KerbPedestrianLog
from pole_agent.perception.radar_model import LABELS, Prediction, VerdictMargins
from simulator.broker import MosquittoBroker
from tests.telemetry.rig import Consumer, Rig, validate_captured

THRESHOLDS = dict.fromkeys(LABELS, 0.5)
MARGINS = VerdictMargins(child=0.4, adult=0.3)
HOP_S = 0.41


def _prediction(**scores: float) -> Prediction:
    return Prediction(
        np.array([scores.get(label, 0.0) for label in LABELS], np.float32),
        np.zeros(len(LABELS), np.float32),
    )


def _child_warning(t: float, outputs: tuple[str, ...]) -> DecisionRecord:
    return DecisionRecord(
        t,
        "child_warning",
        "child-at-kerb-vehicle-approaching",
        "child at the kerb and a vehicle approaching",
        {"pedestrian_kind": "child", "pedestrian_source": SOURCE},
        outputs,
    )


def test_pedestrian_tracks_are_published_once_each(tmp_path: Path, broker: MosquittoBroker) -> None:
    rig = Rig(tmp_path, broker)
    consumer = Consumer(tmp_path, broker, [rig.pole_id])
    log = KerbPedestrianLog(rig.reporter.pedestrian, SOURCE, MARGINS)
    confirm = DetectionFilter(THRESHOLDS, confirm=2, margins=MARGINS)
    windows = (
        [_prediction(child=0.9)] * 4  # a child for four windows: confirmed from the second
        + [_prediction()]  # gone: its event goes out
        + [_prediction(child=0.6)]  # one window only, never confirmed: no event
        + [_prediction()]
        + [_prediction(child=0.6, adult=0.55)] * 2  # a person the model cannot place
        + [_prediction(vehicle=0.9)]  # a vehicle, nobody on foot: that person's event
        + [_prediction(adult=0.8, child=0.3)] * 3  # an adult, still there when the model stops
    )
    consumer.start()
    rig.start()
    try:
        t0 = rig.clock.monotonic()
        for i, prediction in enumerate(windows):
            t = t0 + i * HOP_S
            confirm.update(t, prediction)
            log.on_window(t, confirm.person)
            if i == 2:  # the warning spoke while the child was there
                log.on_decision(_child_warning(t, ("beacons", "voice:car_coming_ko@0.8")))
        log.flush()
        assert consumer.wait_until(
            lambda: consumer.received(rig.pole_id, "events/pedestrian", rig.boot_id) >= 3, 30
        )
    finally:
        rig.stop()
        consumer.stop()
    rows = consumer.rows(rig.pole_id, "events/pedestrian", rig.boot_id)
    assert len({row["seq"] for row in rows}) == 3 and log.published == 3
    child, unsure, adult = rows
    assert [row["pedestrian_id"] for row in rows] == [1, 2, 3]
    assert child["child"] is True and child["warned"] is True and child["source"] == "radar"
    assert child["child_confidence"] == 0.9 and child["crossing"] is False
    assert child["start"] < child["ts"]  # first and last confirmed window
    assert unsure["child"] is None and unsure["warned"] is False
    assert unsure["child_confidence"] == 0.6
    assert adult["child"] is False and adult["child_confidence"] == 0.3
    assert all(row["boot_id"] == rig.boot_id for row in rows)
    assert validate_captured(consumer.raw)["event-pedestrian"] == 3


def test_a_warning_from_another_source_or_unspoken_does_not_mark_the_track() -> None:
    published: list[dict[str, object]] = []
    log = KerbPedestrianLog(lambda **event: published.append(event), SOURCE, MARGINS)
    confirm = DetectionFilter(THRESHOLDS, confirm=1, margins=MARGINS)
    confirm.update(1.0, _prediction(child=0.7))
    log.on_window(1.0, confirm.person)
    other = _child_warning(1.0, ("voice:car_coming_ko@0.8",))
    log.on_decision(
        DecisionRecord(other.t, other.kind, other.rule, other.trigger,
                       {"pedestrian_kind": "child", "pedestrian_source": "camera"}, other.outputs)
    )  # fmt: skip
    log.on_decision(_child_warning(1.0, ("voice:held (cool-down 3.0 s left)",)))
    log.on_decision(_child_warning(1.0, ("beacons", "voice:none (fail-safe)")))
    confirm.update(1.4, _prediction())
    log.on_window(1.4, confirm.person)
    assert len(published) == 1 and published[0]["warned"] is False
    assert published[0]["start_t"] == published[0]["end_t"] == 1.0
