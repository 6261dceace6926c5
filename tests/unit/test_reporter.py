"""The reporter and its payload models, with a recording publisher and a manual clock."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest

from pole_agent import __version__
from pole_agent.clock import ManualClock
from pole_agent.decisions.beacon_policy import RULE_OVER_LIMIT, WarningStart
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.transit import Direction, Transit
from pole_agent.telemetry import topics
from pole_agent.telemetry.messages import (
    SCHEMA_VERSION,
    StatusOffline,
    StatusOnline,
    StatusStopped,
    VehicleEvent,
)
from pole_agent.telemetry.reporter import Reporter, SequenceCounter

POLE = "test-pole-7"
BOOT = "b00t1d"
START_WALL = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
START_MONO = 1000.0
VEHICLE_TOPIC = f"spole/{POLE}/events/vehicle"
STATUS_TOPIC = f"spole/{POLE}/status"
ACTIVE = ZoneState(active=True, limit_kmh=30.0)


@dataclass
class Published:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def body(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.payload)
        return decoded


@dataclass
class RecordingPublisher:
    """A Publisher that keeps every message handed to it, in order."""

    messages: list[Published] = field(default_factory=list)
    state: str = "connected"

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        assert isinstance(payload, bytes)
        self.messages.append(Published(topic, payload, qos, retain))

    def link_state(self) -> str:
        return self.state

    def on(self, topic: str) -> list[Published]:
        return [m for m in self.messages if m.topic == topic]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_wall=START_WALL, start_monotonic=START_MONO)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def reporter(clock: ManualClock, publisher: RecordingPublisher) -> Reporter:
    return Reporter(POLE, BOOT, clock, publisher, capabilities=["radar", "beacons"])


def transit(
    *,
    transit_id: int = 1,
    start_t: float = START_MONO + 1.0,
    end_t: float = START_MONO + 2.5,
    peak: float = 42.0,
    direction: Direction = "approaching",
    noise: bool = False,
) -> Transit:
    return Transit(
        transit_id=transit_id,
        direction=direction,
        start_t=start_t,
        end_t=end_t,
        peak_kmh=peak,
        median_kmh=peak - 3.0,
        samples=12,
        noise=noise,
    )


def iso(dt: str) -> datetime:
    parsed = datetime.fromisoformat(dt)
    assert parsed.utcoffset() == timedelta(0), dt
    return parsed


def wall(mono: float) -> datetime:
    return START_WALL + timedelta(seconds=mono - START_MONO)


def test_topics() -> None:
    assert topics.vehicle_events(POLE) == VEHICLE_TOPIC
    assert topics.status(POLE) == STATUS_TOPIC
    assert topics.all_of(POLE) == f"spole/{POLE}/#"


def test_vehicle_event_fields(
    reporter: Reporter, clock: ManualClock, publisher: RecordingPublisher
) -> None:
    clock.advance(4.0)  # reported 1.5 s after the transit's last frame
    reporter.vehicle(transit(peak=42.04), ACTIVE, None)
    (message,) = publisher.messages
    assert message.topic == VEHICLE_TOPIC
    assert message.qos == 1
    assert message.retain is False
    body = message.body
    assert body["schema_version"] == SCHEMA_VERSION
    assert body["pole_id"] == POLE
    assert body["boot_id"] == BOOT
    assert body["seq"] == 1
    assert iso(body["ts"]) == wall(START_MONO + 2.5)
    assert iso(body["start"]) == wall(START_MONO + 1.0)
    assert body["ts"].endswith("Z") or body["ts"].endswith("+00:00")
    assert body["transit_id"] == 1
    assert body["speed_kmh"] == 42.0
    assert body["median_kmh"] == 39.0
    assert body["direction"] == "approaching"
    assert body["samples"] == 12
    assert body["limit_kmh"] == 30.0
    assert body["zone_active"] is True
    assert body["over_limit"] is True
    assert body["warned"] is False
    assert body["warning"] is None
    VehicleEvent.model_validate_json(message.payload)


def test_vehicle_ts_is_the_transit_end_whenever_it_is_reported(
    reporter: Reporter, clock: ManualClock, publisher: RecordingPublisher
) -> None:
    clock.advance(3600.0)
    reporter.vehicle(transit(end_t=START_MONO + 10.0), ACTIVE, None)
    assert iso(publisher.messages[0].body["ts"]) == datetime(2026, 3, 2, 8, 0, 10, tzinfo=UTC)


def test_vehicle_events_sequence_per_topic(
    reporter: Reporter, clock: ManualClock, publisher: RecordingPublisher
) -> None:
    for n in range(1, 4):
        clock.advance(5.0)
        reporter.vehicle(transit(transit_id=n, end_t=clock.monotonic() - 1), ACTIVE, None)
    bodies = [m.body for m in publisher.on(VEHICLE_TOPIC)]
    assert [b["seq"] for b in bodies] == [1, 2, 3]
    assert [b["transit_id"] for b in bodies] == [1, 2, 3]
    assert {b["boot_id"] for b in bodies} == {BOOT}


def test_under_limit_receding_event(reporter: Reporter, publisher: RecordingPublisher) -> None:
    reporter.vehicle(transit(peak=25.0, direction="receding"), ACTIVE, None)
    body = publisher.messages[0].body
    assert body["direction"] == "receding"
    assert body["over_limit"] is False
    assert body["warned"] is False


def test_inactive_zone_event_records_the_off_hours_limit(
    reporter: Reporter, publisher: RecordingPublisher
) -> None:
    reporter.vehicle(transit(peak=45.0), ZoneState(active=False, limit_kmh=50.0), None)
    body = publisher.messages[0].body
    assert body["zone_active"] is False
    assert body["limit_kmh"] == 50.0
    assert body["over_limit"] is False


def test_warned_event_carries_the_warning_record(
    reporter: Reporter, clock: ManualClock, publisher: RecordingPublisher
) -> None:
    warning = WarningStart(
        transit_id=1,
        t=START_MONO + 1.2,
        rule=RULE_OVER_LIMIT,
        speed_kmh=38.46,
        limit_kmh=30.0,
        confirm_frames=2,
    )
    clock.advance(5.0)
    reporter.vehicle(transit(peak=44.0), ACTIVE, warning)
    body = publisher.messages[0].body
    assert body["warned"] is True
    assert body["over_limit"] is True
    record = body["warning"]
    assert record["rule"] == "over-limit-approaching"
    assert iso(record["at"]) == wall(START_MONO + 1.2)
    assert record["speed_kmh"] == 38.5
    assert record["limit_kmh"] == 30.0
    assert record["confirm_frames"] == 2


def test_noise_transit_can_be_reported(reporter: Reporter, publisher: RecordingPublisher) -> None:
    reporter.vehicle(transit(noise=True), ACTIVE, None)
    assert publisher.messages[0].body["samples"] == 12


def test_over_limit_agrees_with_the_published_speed(
    reporter: Reporter, publisher: RecordingPublisher
) -> None:
    reporter.vehicle(transit(peak=30.04), ACTIVE, None)
    body = publisher.messages[0].body
    assert body["over_limit"] == (body["speed_kmh"] > body["limit_kmh"])


def test_status_online_payload(reporter: Reporter, clock: ManualClock) -> None:
    clock.advance(7.0)
    body = json.loads(reporter.online())
    assert body["state"] == "online"
    assert body["pole_id"] == POLE
    assert body["boot_id"] == BOOT
    assert body["seq"] == 1
    assert body["schema_version"] == SCHEMA_VERSION
    assert iso(body["ts"]) == START_WALL + timedelta(seconds=7)
    assert iso(body["started"]) == START_WALL
    assert body["agent_version"] == __version__
    assert body["capabilities"] == ["radar", "beacons"]
    StatusOnline.model_validate(body)


def test_status_stopped_payload(reporter: Reporter, clock: ManualClock) -> None:
    clock.advance(60.0)
    body = json.loads(reporter.stopped("signal SIGTERM"))
    assert body["state"] == "stopped"
    assert body["reason"] == "signal SIGTERM"
    assert body["pole_id"] == POLE
    assert body["boot_id"] == BOOT
    assert iso(body["ts"]) == START_WALL + timedelta(seconds=60)
    StatusStopped.model_validate(body)


def test_status_payloads_are_returned_not_published(
    reporter: Reporter, publisher: RecordingPublisher
) -> None:
    reporter.online()
    reporter.stopped("x")
    assert publisher.messages == []


def test_seq_is_per_topic(reporter: Reporter, publisher: RecordingPublisher) -> None:
    online_1 = json.loads(reporter.online())
    reporter.vehicle(transit(transit_id=1), ACTIVE, None)
    online_2 = json.loads(reporter.online())
    reporter.vehicle(transit(transit_id=2), ACTIVE, None)
    stopped = json.loads(reporter.stopped("bye"))
    assert [online_1["seq"], online_2["seq"], stopped["seq"]] == [1, 2, 3]
    assert [m.body["seq"] for m in publisher.on(VEHICLE_TOPIC)] == [1, 2]


def test_seq_is_per_reporter_boot(clock: ManualClock, publisher: RecordingPublisher) -> None:
    first = Reporter(POLE, "boot-a", clock, publisher, [])
    second = Reporter(POLE, "boot-b", clock, publisher, [])
    first.vehicle(transit(), ACTIVE, None)
    first.vehicle(transit(), ACTIVE, None)
    second.vehicle(transit(), ACTIVE, None)
    assert [(m.body["boot_id"], m.body["seq"]) for m in publisher.messages] == [
        ("boot-a", 1),
        ("boot-a", 2),
        ("boot-b", 1),
    ]


def test_published_keeps_the_last_twenty(reporter: Reporter) -> None:
    for n in range(1, 26):
        reporter.vehicle(transit(transit_id=n), ACTIVE, None)
    assert len(reporter.published) == 20
    assert json.loads(reporter.published[0][1])["transit_id"] == 6
    assert json.loads(reporter.published[-1][1])["transit_id"] == 25
    assert all(topic == VEHICLE_TOPIC for topic, _ in reporter.published)


def test_sequence_counter_is_thread_safe() -> None:
    counter = SequenceCounter()
    seen: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [counter.next("t") for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(seen) == list(range(1, 8001))
    assert counter.next("other") == 1


def test_messages_reject_bad_values() -> None:
    common: dict[str, Any] = {"pole_id": POLE, "boot_id": BOOT, "ts": START_WALL}
    with pytest.raises(pydantic.ValidationError):
        StatusStopped(seq=0, reason="x", **common)
    with pytest.raises(pydantic.ValidationError):
        StatusStopped.model_validate({"seq": 1, "reason": "x", "extra": 1, **common})


def test_last_will_has_no_seq_or_ts() -> None:
    body = json.loads(StatusOffline(pole_id=POLE, boot_id=BOOT).model_dump_json())
    assert body == {
        "schema_version": SCHEMA_VERSION,
        "state": "offline",
        "pole_id": POLE,
        "boot_id": BOOT,
    }


def test_stats_windows_carry_the_radar_clutter_they_saw(
    clock: ManualClock, publisher: RecordingPublisher
) -> None:
    clutter = [0]
    reporter = Reporter(
        POLE, BOOT, clock, publisher, capabilities=["radar"], stats_interval_s=60,
        clutter_frames=lambda: clutter[0],
    )  # fmt: skip
    reporter.roll_stats(ACTIVE)  # the first window opens
    clutter[0] = 9
    reporter.vehicle(transit(), ACTIVE, None)
    clock.advance(60)
    clutter[0] = 30
    reporter.roll_stats(ACTIVE)
    clutter[0] = 31
    reporter.close_stats()
    stats = [m.body for m in publisher.on(f"spole/{POLE}/stats")]
    assert [(s["total"]["count"], s["clutter_frames"]) for s in stats] == [(1, 30), (0, 1)]
