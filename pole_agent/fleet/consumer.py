"""The reference consumer's logic: validate, de-duplicate, store, account. No network here:
``handle`` is given each message (by ``MqttSubscriber`` in ``fleet listen``, or by a test) and
never raises, whatever it is given; what cannot be read is stored with the reason and counted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pole_agent.fleet.ledger import Gap, Ledger
from pole_agent.fleet.store import FleetStore
from pole_agent.telemetry import topics
from pole_agent.telemetry.decode import DecodeError, decode
from pole_agent.telemetry.messages import Message, StatusOffline, StatusOnline, StatusStopped
from pole_agent.telemetry.report_messages import HealthReport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamSummary:
    pole_id: str
    stream: str
    boot_id: str
    received: int
    max_seq: int
    duplicates: int
    late: int
    historical: int


@dataclass(frozen=True, slots=True)
class FleetReport:
    counts: dict[str, int]
    streams: list[StreamSummary]
    gaps: list[Gap]

    @property
    def missing(self) -> int:
        return sum(g.count for g in self.gaps if g.kind == "missing")

    @property
    def dropped(self) -> int:
        return sum(g.count for g in self.gaps if g.kind == "dropped")

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "streams": [_row(s) for s in self.streams],
            "gaps": [_row(g) | {"count": g.count} for g in self.gaps],
            "missing": self.missing,
            "dropped": self.dropped,
        }


def _row(item: object) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}  # type: ignore[attr-defined]


class FleetConsumer:
    def __init__(self, store: FleetStore) -> None:
        self.store = store
        self.ledger = Ledger()
        self.counts: Counter[str] = Counter()
        self.unknown_fields: Counter[str] = Counter()
        """Messages read with fields this consumer does not know, by stream and field."""
        self._lock = threading.Lock()
        for pole_id, stream, boot_id, seq, historical in store.seqs():
            self.ledger.record(pole_id, stream, boot_id, seq, historical)
        for pole_id, boot_id, stream, first, last in store.drops():
            self.ledger.note_dropped(pole_id, stream, boot_id, first, last)

    def handle(self, topic: str, payload: bytes, retain: bool = False) -> str:
        """Take one message; returns what became of it (new, duplicate, status, invalid,
        foreign)."""
        try:
            with self._lock:
                outcome = self._handle(topic, payload, retain)
        except Exception as err:  # a consumer bug must not lose the stream: count and go on
            log.exception("could not handle a message on %r", topic[:100])
            outcome = "error"
            self._invalid(topic, f"internal error: {type(err).__name__}", payload)
        self.counts[outcome] += 1
        return outcome

    def _handle(self, topic: str, payload: bytes, retain: bool) -> str:
        parsed = topics.parse(topic)
        if parsed is None:
            return "foreign"
        pole_id, stream = parsed
        ignored: list[str] = []
        try:
            message = decode(stream, payload, ignored)
        except DecodeError as err:
            self._invalid(topic, str(err), payload)
            return "invalid"
        if getattr(message, "pole_id", None) != pole_id:
            self._invalid(topic, "pole_id differs from the topic's", payload)
            return "invalid"
        for field in ignored:  # a newer pole's additive field: stored with the payload, as is
            self.unknown_fields[f"{stream}: {field}"] += 1
            if self.unknown_fields[f"{stream}: {field}"] == 1:
                log.info("%s carries a field this consumer does not know: %s", stream, field)
        now = time.time()
        text = payload.decode("utf-8")
        if isinstance(message, StatusOnline | StatusStopped | StatusOffline):
            self.store.add_status(
                pole_id=pole_id,
                boot_id=message.boot_id,
                state=message.state,
                retained=retain,
                received=now,
                payload=text,
            )
            return "status"
        assert isinstance(message, Message)
        if isinstance(message, HealthReport):
            for drop in message.spool.drops:
                self.ledger.note_dropped(
                    pole_id, drop.stream, drop.boot_id, drop.first_seq, drop.last_seq
                )
                self.store.add_drop(
                    pole_id=pole_id,
                    boot_id=drop.boot_id,
                    stream=drop.stream,
                    first=drop.first_seq,
                    last=drop.last_seq,
                    reason=drop.reason,
                )
        self.store.add_message(
            pole_id=pole_id,
            stream=stream,
            boot_id=message.boot_id,
            seq=message.seq,
            ts=message.ts.isoformat(),
            historical=message.historical,
            received=now,
            payload=text,
        )
        return self.ledger.record(pole_id, stream, message.boot_id, message.seq, message.historical)

    def _invalid(self, topic: str, error: str, payload: bytes) -> None:
        try:
            self.store.add_invalid(received=time.time(), topic=topic, error=error, payload=payload)
        except Exception:
            log.exception("could not store an invalid message")

    def report(self) -> FleetReport:
        with self._lock:
            streams = [
                StreamSummary(
                    pole_id=pole_id,
                    stream=stream,
                    boot_id=boot_id,
                    received=len(ledger.received),
                    max_seq=ledger.max_seq,
                    duplicates=ledger.duplicates,
                    late=ledger.late,
                    historical=ledger.historical,
                )
                for (pole_id, stream, boot_id), ledger in sorted(self.ledger.streams.items())
            ]
            return FleetReport(dict(self.counts), streams, self.ledger.gaps())


def format_report(report: FleetReport, *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(report.as_json(), sort_keys=True)
    lines = [
        "received: " + ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items())),
        f"{'pole':24} {'stream':18} {'boot':16} {'recv':>6} {'max':>6} {'dup':>5} {'hist':>6}",
    ]
    for s in report.streams:
        lines.append(
            f"{s.pole_id:24} {s.stream:18} {s.boot_id:16} {s.received:6d} {s.max_seq:6d} "
            f"{s.duplicates:5d} {s.historical:6d}"
        )
    for gap in report.gaps:
        lines.append(
            f"gap {gap.kind}: {gap.pole_id} {gap.stream} boot {gap.boot_id} "
            f"seq {gap.first_seq}-{gap.last_seq} ({gap.count})"
        )
    lines.append(f"missing {report.missing}, dropped by the poles {report.dropped}")
    return "\n".join(lines)
