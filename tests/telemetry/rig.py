"""Shared pieces of the telemetry tests: a reporter, spool and MQTT link on a scaled clock (the
agent's telemetry without the radar), the reference consumer on the same broker, and a schema
check of everything the consumer stored."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from pole_agent.clock import ScaledClock
from pole_agent.config import MqttConfig
from pole_agent.decisions.beacon_policy import RULE_OVER_LIMIT, WarningStart
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.drivers.mqtt_link import MqttLink, MqttSubscriber
from pole_agent.fleet.consumer import FleetConsumer
from pole_agent.fleet.store import FleetStore
from pole_agent.health import HealthBoard
from pole_agent.perception.transit import Transit
from pole_agent.telemetry import schema_files, topics
from pole_agent.telemetry.health_report import HealthCollector
from pole_agent.telemetry.messages import StatusOffline
from pole_agent.telemetry.reporter import Reporter
from pole_agent.telemetry.spool import Spool
from simulator.broker import MosquittoBroker

ZONE = ZoneState(active=True, limit_kmh=30.0, window="day")


def persistent_broker(tmp_path: Path) -> MosquittoBroker:
    """A Mosquitto that keeps sessions across its own restarts (as a city broker does), so the
    consumer's session survives a broker stop and start; no cap on queued messages."""
    work = tmp_path / "broker"
    work.mkdir(parents=True, exist_ok=True)
    return MosquittoBroker(
        work_dir=work,
        extra_config=f"persistence true\npersistence_location {work}/\nmax_queued_messages 0\n",
    )


@dataclass
class Rig:
    """The pole's telemetry, driven by hand: ``vehicle``, ``warning`` and ``fault`` make the
    messages the radar pipeline and the health board would."""

    tmp_path: Path
    broker: MosquittoBroker
    factor: float = 100.0
    pole_id: str = "rig-pole-1"
    max_bytes: int = 64 * 1024 * 1024
    batch_s: float = 0.05
    reconnect_max_s: float = 30.0
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    subscriptions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.clock = ScaledClock(self.factor)
        self.health = HealthBoard()
        self.spool = Spool(
            self.tmp_path / "spool.sqlite3",
            boot_id=self.boot_id,
            clock=self.clock,
            max_bytes=self.max_bytes,
            max_age_s=7 * 86400,
            batch_s=self.batch_s,
            health=self.health,
        )
        holder: dict[str, Reporter] = {}
        config = MqttConfig(
            host=self.broker.host,
            port=self.broker.port,
            keepalive_s=5,
            reconnect_min_s=1.0,
            reconnect_max_s=self.reconnect_max_s,
        )
        self.link = MqttLink(
            config,
            client_id=f"spole-{self.pole_id}",
            username=self.pole_id,
            status_topic=topics.status(self.pole_id),
            birth=lambda: holder["reporter"].online(),  # noqa: PLW0108 (late binding)
            last_will=StatusOffline(pole_id=self.pole_id, boot_id=self.boot_id)
            .model_dump_json()
            .encode(),
            outbox=self.spool,
            clock=self.clock,
            health=self.health,
            subscriptions=self.subscriptions,
        )
        self.reporter = Reporter(
            self.pole_id, self.boot_id, self.clock, self.link, ["radar", "beacons"],
            stats_interval_s=60, warning_hold_s=3.0,
        )  # fmt: skip
        holder["reporter"] = self.reporter
        self.health.subscribe(self.reporter.on_health_change)
        self.collector = HealthCollector(
            board=self.health,
            clock=self.clock,
            started_mono=self.reporter.started_mono,
            state_dir=self.tmp_path,
            spool_stats=self.spool.stats,
            link=self.link.link_report,
        )
        self.made: dict[str, int] = {}
        self._transit = 0

    def start(self) -> None:
        self.spool.start()
        self.link.start()

    def stop(self, reason: str = "test over") -> None:
        self.link.close(self.reporter.stopped(reason))
        self.spool.close()

    def _count(self, stream: str) -> int:
        self.made[stream] = self.made.get(stream, 0) + 1
        return self.made[stream]

    def vehicle(self, speed: float = 28.0) -> int:
        """One vehicle event; returns its seq."""
        self._transit += 1
        now = self.clock.monotonic()
        transit = Transit(
            transit_id=self._transit,
            direction="approaching" if self._transit % 2 else "receding",
            start_t=now - 2.0,
            end_t=now - 1.0,
            peak_kmh=speed,
            median_kmh=speed - 2,
            samples=20,
        )
        self.reporter.vehicle(transit, ZONE, None)
        return self._count("events/vehicle")

    def warning(self) -> None:
        """A warning's start and end (two events/warning messages) and its vehicle event."""
        self._transit += 1
        now = self.clock.monotonic()
        start = WarningStart(self._transit, now - 1.5, RULE_OVER_LIMIT, 41.0, 30.0, 2)
        self.reporter.warning_start(start, ZONE)
        transit = Transit(self._transit, "approaching", now - 2.0, now - 1.0, 44.0, 40.0, 25)
        self.reporter.warning_end(start, transit, ZONE)
        self.reporter.vehicle(transit, ZONE, start)
        self._count("events/warning")
        self._count("events/warning")
        self._count("events/vehicle")

    def fault(self, component: str = "radar.road") -> None:
        """A fault and its recovery (two events/fault messages)."""
        now = self.clock.monotonic()
        self.health.report(component, "ok", "reading", now)
        self.health.report(component, "failed", "unplugged", now)
        self.health.report(component, "ok", "reading", now)
        self._count("events/fault")
        self._count("events/fault")

    def health_report(self) -> None:
        self.reporter.health(**self.collector.collect())
        self._count("health")


class Consumer:
    """The reference consumer on a persistent session, as ``fleet listen`` runs it."""

    def __init__(self, tmp_path: Path, broker: MosquittoBroker, pole_ids: list[str]) -> None:
        self.store = FleetStore(tmp_path / "fleet.sqlite3")
        self.consumer = FleetConsumer(self.store)
        self.subscriber = MqttSubscriber(
            host=broker.host,
            port=broker.port,
            client_id=f"fleet-{uuid.uuid4().hex[:8]}",
            filters=[topics.all_of(p) for p in pole_ids] + ["homeassistant/#"],
            on_message=self._on_message,
        )
        self.raw: list[tuple[str, bytes, bool]] = []

    def _on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        self.raw.append((topic, payload, retain))
        self.consumer.handle(topic, payload, retain)

    def start(self) -> None:
        self.subscriber.start()
        assert self.subscriber.wait_subscribed(10), "the consumer could not subscribe"

    def stop(self) -> None:
        self.subscriber.stop()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def received(self, pole_id: str, stream: str, boot_id: str) -> int:
        ledger = self.consumer.ledger.streams.get((pole_id, stream, boot_id))
        return 0 if ledger is None else len(ledger.received)

    def has_all(self, pole_id: str, boot_id: str, made: dict[str, int]) -> bool:
        return all(self.received(pole_id, s, boot_id) >= n for s, n in made.items())

    def rows(self, pole_id: str, stream: str, boot_id: str) -> list[dict[str, Any]]:
        """Stored messages of one stream and boot, by seq."""
        rows = self.store.query(
            "SELECT payload FROM messages WHERE pole_id = ? AND stream = ? AND boot_id = ?"
            " ORDER BY seq",
            (pole_id, stream, boot_id),
        )
        return [json.loads(str(payload)) for (payload,) in rows]


def schema_validator(stem: str) -> jsonschema.protocols.Validator:
    schema = schema_files.load(stem)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_captured(raw: list[tuple[str, bytes, bool]]) -> dict[str, int]:
    """Validate every captured payload against its schema file; returns counts by schema."""
    validators = {stem: schema_validator(stem) for stem in schema_files.PAYLOADS}
    counts: dict[str, int] = {}
    for topic, payload, _retain in raw:
        body = json.loads(payload)
        if topic.startswith("homeassistant/"):
            stem = "ha-discovery"
        else:
            parsed = topics.parse(topic)
            assert parsed is not None, topic
            stems = schema_files.BY_STREAM[parsed[1]]
            stem = stems[0] if len(stems) == 1 else f"status-{body.get('state')}"
        errors = sorted(validators[stem].iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{topic} does not match {stem}: {errors[0].message} in {body}"
        counts[stem] = counts.get(stem, 0) + 1
    return counts
