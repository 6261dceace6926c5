"""Fuzzing every parser of what comes over MQTT (reliability row 20): the consumer's handler,
the payload decoder, the topic parser, and the spool's payload helpers never raise, whatever
the bytes; bad input is counted and stored with its reason."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pole_agent.fleet.consumer import FleetConsumer
from pole_agent.fleet.store import FleetStore
from pole_agent.telemetry import topics
from pole_agent.telemetry.decode import DecodeError, decode
from pole_agent.telemetry.messages import mark_historical
from pole_agent.telemetry.spool_db import seq_of

VALID = (
    b'{"schema_version":1,"pole_id":"p-1","boot_id":"b","seq":1,"ts":"2026-03-02T08:00:00Z",'
    b'"transit_id":1,"start":"2026-03-02T07:59:58Z","speed_kmh":41.0,"median_kmh":39.0,'
    b'"direction":"approaching","vehicle_class":"unclassified","samples":9,"limit_kmh":30.0,'
    b'"zone_active":true,"over_limit":true,"warned":false,"warning":null,"historical":false}'
)
STREAMS = st.sampled_from([*topics.STREAMS, "events/other", ""])
TOPICS = st.one_of(
    st.builds(lambda s: f"spole/p-1/{s}", STREAMS),
    st.text(max_size=80),
    st.sampled_from(["spole//status", "spole/P-1/status", "spole/p-1", "homeassistant/x"]),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


def mutated(data: bytes, cuts: list[int]) -> bytes:
    out = bytearray(data)
    for cut in cuts:
        if out:
            del out[cut % len(out)]
    return bytes(out)


@given(
    st.binary(max_size=400)
    | st.builds(mutated, st.just(VALID), st.lists(st.integers(0, 999), max_size=6))
)
def test_decode_raises_only_decode_error(payload: bytes) -> None:
    for stream in topics.STREAMS:
        with contextlib.suppress(DecodeError):
            decode(stream, payload)


@given(JSONISH)
def test_decode_of_any_json_value(value: object) -> None:
    payload = json.dumps(value, allow_nan=True).encode()
    for stream in topics.STREAMS:
        with contextlib.suppress(DecodeError):
            decode(stream, payload)


@given(st.text(max_size=120))
def test_topic_parser_never_raises(name: str) -> None:
    parsed = topics.parse(name)
    assert parsed is None or name == topics.topic(*parsed)


@given(st.binary(max_size=300))
def test_spool_payload_helpers_never_raise(payload: bytes) -> None:
    seq_of(payload)
    assert mark_historical(payload).startswith(payload[:-20] if len(payload) > 20 else b"")


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    TOPICS,
    st.binary(max_size=300)
    | st.builds(mutated, st.just(VALID), st.lists(st.integers(0, 999), max_size=4)),
)
def test_consumer_never_raises_and_counts_bad_input(
    tmp_path: Path, topic: str, payload: bytes
) -> None:
    consumer = FleetConsumer(FleetStore(tmp_path / "fleet.sqlite3"))
    outcome = consumer.handle(topic, payload, False)
    assert outcome in {"new", "duplicate", "status", "invalid", "foreign", "uncounted"}
    consumer.store.close()


def test_consumer_stores_the_valid_one_and_refuses_a_forged_pole(tmp_path: Path) -> None:
    consumer = FleetConsumer(FleetStore(tmp_path / "fleet.sqlite3"))
    assert consumer.handle("spole/p-1/events/vehicle", VALID) == "new"
    assert consumer.handle("spole/p-1/events/vehicle", VALID) == "duplicate"
    assert consumer.handle("spole/p-2/events/vehicle", VALID) == "invalid"
    assert consumer.handle("spole/p-1/events/vehicle", VALID.replace(b"41.0", b'"x"')) == "invalid"
    (error,) = consumer.store.query("SELECT error FROM invalid WHERE topic LIKE '%p-1%'")
    assert "speed_kmh" in str(error[0])
