"""A consumer older than the poles still reads their messages: fields it does not know are
ignored (docs/mqtt.md, "Versions"), counted, and kept in the stored payload; anything else that
does not fit is still refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pole_agent.fleet.consumer import FleetConsumer
from pole_agent.fleet.store import FleetStore
from pole_agent.telemetry.decode import DecodeError, decode
from pole_agent.telemetry.report_messages import (
    ComponentReport,
    DropRange,
    HealthReport,
    LinkReport,
    SpoolReport,
)

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _health() -> dict[str, Any]:
    ok = ComponentReport(state="ok", reason="reading", since=NOW)
    drop = DropRange(
        stream="stats", boot_id="b", first_seq=3, last_seq=4, count=2, reason="full", at=NOW
    )
    report = HealthReport(
        pole_id="p-1", boot_id="b", seq=1, ts=NOW, overall="ok",
        components={"radar.road": ok, "spool": ok},
        cpu_temp_c=None, load=None, memory=None, disk=None,
        spool=SpoolReport(
            state="ok", depth=0, bytes=0, disk_bytes=0, max_bytes=1 << 20, oldest_s=None,
            dropped={"stats": 2}, dropped_total=2, dropped_safety=0, write_errors=0, drops=[drop],
        ),
        link=LinkReport(state="connected", connects=1, delivered=0, rejected=0),
        clock_trusted=True, uptime_s=1.0,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(report.model_dump_json())
    return data


def _newer(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a newer pole would send it: three fields this reader does not know."""
    data["battery_v"] = 12.6
    data["components"]["radar.road"]["glare"] = 3
    data["spool"]["drops"][0]["note"] = "rotated"
    return data


def test_fields_a_reader_does_not_know_are_ignored_and_named() -> None:
    ignored: list[str] = []
    message = decode("health", json.dumps(_newer(_health())).encode(), ignored)
    assert isinstance(message, HealthReport)
    assert message.spool.drops[0].last_seq == 4 and message.components["radar.road"].state == "ok"
    assert sorted(ignored) == [
        "battery_v", "components.radar.road.glare", "spool.drops.0.note"
    ]  # fmt: skip
    assert decode("health", json.dumps(_health()).encode(), ignored) is not None
    assert len(ignored) == 3  # a message with nothing unknown adds nothing


def test_an_unknown_field_does_not_hide_a_bad_known_one() -> None:
    data = _newer(_health())
    data["uptime_s"] = "long"
    with pytest.raises(DecodeError, match="uptime_s"):
        decode("health", json.dumps(data).encode())
    data = _health()
    data["components"]["spool"] = {"state": "ok", "extra": 1}  # reason and since missing
    with pytest.raises(DecodeError, match=r"components\.spool"):
        decode("health", json.dumps(data).encode())


def test_the_consumer_stores_a_newer_pole_s_message_whole_and_counts_the_fields(
    tmp_path: Path,
) -> None:
    consumer = FleetConsumer(FleetStore(tmp_path / "fleet.sqlite3"))
    payload = json.dumps(_newer(_health())).encode()
    assert consumer.handle("spole/p-1/health", payload) == "new"
    data = _newer(_health())
    data["seq"] = 2
    assert consumer.handle("spole/p-1/health", json.dumps(data).encode()) == "new"
    assert consumer.unknown_fields["health: battery_v"] == 2
    assert consumer.unknown_fields["health: spool.drops.0.note"] == 2
    stored = consumer.store.query(
        "SELECT payload FROM messages WHERE pole_id = 'p-1' AND stream = 'health' ORDER BY seq"
    )
    assert [json.loads(str(row[0]))["battery_v"] for row in stored] == [12.6, 12.6]
    consumer.store.close()


def test_every_time_on_the_wire_is_utc_whatever_the_clock_s_zone() -> None:
    seoul = timezone(timedelta(hours=9))
    data = _health()
    report = HealthReport.model_validate(
        data
        | {
            "ts": NOW.astimezone(seoul),
            "components": {
                "spool": ComponentReport(state="ok", reason="x", since=NOW.astimezone(seoul))
            },
        }
    )
    wire = json.loads(report.model_dump_json())
    assert wire["ts"] == "2026-03-02T08:00:00Z"
    assert wire["components"]["spool"]["since"] == "2026-03-02T08:00:00Z"
