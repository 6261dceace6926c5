"""Radar report lines: every documented form, garbage, and two hypothesis properties."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pole_agent.config import RadarConfig
from pole_agent.perception.radar_lines import (
    MAX_LINE_BYTES,
    CounterReport,
    DetectedObject,
    InfoLine,
    NoTarget,
    ObjectReport,
    ParsedLine,
    RangeFrame,
    Rejected,
    SpeedFrame,
    parse_line,
)

#: The sensor's limit at 20 kHz (the shipped configs): about 224 km/h.
MAX_KMH = RadarConfig(sample_rate_hz=20000).max_speed_kmh
T = 137.5
RESULT_TYPES = (
    SpeedFrame,
    NoTarget,
    InfoLine,
    Rejected,
    RangeFrame,
    ObjectReport,
    DetectedObject,
    CounterReport,
)


def parse(line: bytes) -> ParsedLine:
    return parse_line(line, T, MAX_KMH)


def speed_of(line: bytes) -> float:
    result = parse(line)
    assert isinstance(result, SpeedFrame), result
    assert result.t == T
    return result.speed_kmh


def rejected_reason(line: bytes) -> str:
    result = parse(line)
    assert isinstance(result, Rejected), result
    assert result.t == T
    return result.reason


def test_max_speed_of_the_shipped_rate() -> None:
    assert 223 < MAX_KMH < 225


# --- documented forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "speed", "magnitude"),
    [
        (b"-12.3", -12.3, None),
        (b"12.3", 12.3, None),
        (b"+41", 41.0, None),
        (b"  12.3  ", 12.3, None),
        (b"12.3\r", 12.3, None),
        (b"137.429, 3.6", 3.6, None),
        (b"137.429,-3.6", -3.6, None),
        (b"137.429, 467, 3.6", 3.6, 467.0),
        (b"137.429, 467.72, -55.5", -55.5, 467.72),
        (b'{"speed":12.3,"direction":"inbound"}', 12.3, None),
        (b'{"speed":0.58, "direction":"inbound", "time":105, "tick":135}', 0.58, None),
        (b'{"magnitude":"467.72","speed":"-0.25","distance":"0.00"}', -0.25, 467.72),
        (b'{"speed": 12.5, "magnitude": 456, "uptime": 12345.67}', 12.5, 456.0),
        (b'{"speed" : 33.3 , "magnitude" : 12}', 33.3, 12.0),
        (b'{ "speed" : "-33.3" }', -33.3, None),
        (b'"kmph",12.3', 12.3, None),
        (b'"mps", -2.5', -9.0, None),
    ],
)
def test_documented_forms(line: bytes, speed: float, magnitude: float | None) -> None:
    result = parse(line)
    assert isinstance(result, SpeedFrame), result
    assert result.t == T
    assert result.speed_kmh == pytest.approx(speed)
    assert result.magnitude == (None if magnitude is None else pytest.approx(magnitude))


@pytest.mark.parametrize(
    ("line", "speed"),
    [
        (b'{"speed":-12.0,"direction":"inbound"}', 12.0),
        (b'{"speed":12.0,"direction":"inbound"}', 12.0),
        (b'{"speed":12.0,"direction":"outbound"}', -12.0),
        (b'{"speed":"-12.0","direction":"outbound"}', -12.0),
        (b'{"speed" : "12.0" , "direction" : "outbound"}', -12.0),
    ],
)
def test_direction_overrides_the_sign(line: bytes, speed: float) -> None:
    assert speed_of(line) == speed


@pytest.mark.parametrize(
    ("line", "speed"),
    [
        (b'{"speed":10,"unit":"m/s"}', 36.0),
        (b'{"speed":10,"unit":"mps"}', 36.0),
        (b'{"speed":"-10","units":"m-per-sec"}', -36.0),
        (b'{"speed":10,"unit":"mph"}', 16.09344),
        (b'{"speed":10,"units":"MPH"}', 16.09344),
        (b'{"speed":10,"unit":"miles-per-hr"}', 16.09344),
        (b'{"speed":10,"unit":"km/h"}', 10.0),
        (b'{"speed":10,"unit":"kmh"}', 10.0),
        (b'{"speed":10,"units":"km-per-hr"}', 10.0),
        (b'{"speed":10,"unit":"mps","direction":"outbound"}', -36.0),
    ],
)
def test_units_are_converted_to_kmh(line: bytes, speed: float) -> None:
    assert speed_of(line) == pytest.approx(speed)


def test_unit_conversion_applies_before_the_range_check() -> None:
    # 70 m/s = 252 km/h: over the sensor's 224 km/h, although 70 itself is not.
    assert rejected_reason(b'{"speed":70,"unit":"m/s"}') == "out_of_range"


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"   ",
        b"\r",
        b"0",
        b"0.0",
        b"-0",
        b"-0.00",
        b"137.429, 0.0",
        b"137.429, 467, 0",
        b'{"speed":0}',
        b'{"speed":"0.00"}',
        b'{"speed":0,"direction":"outbound"}',
        b'{"magnitude":"0","speed":"0.00"}',
        b'{"DetectedObjectVelocity":"0.0"}',
    ],
)
def test_blank_and_zero_reports_mean_no_target(line: bytes) -> None:
    assert parse(line) == NoTarget(T)


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        (b'{"Units":"km-per-hr"}', {"Units": "km-per-hr"}),
        (b'{"Product":"OPS243"}', {"Product": "OPS243"}),
        (
            b'{"SamplingRate":10000, "resolution":0.0607}',
            {"SamplingRate": 10000, "resolution": 0.0607},
        ),
        (b"{}", {}),
    ],
)
def test_echo_and_query_lines_are_info(line: bytes, fields: dict[str, object]) -> None:
    assert parse(line) == InfoLine(T, fields)


def test_object_report_is_parsed() -> None:
    line = (
        b'{"classifier" : "object_outbound", "end_time" : "155905.467", "start_time" : '
        b'"155904.731", "delta_time_msec" : 736, "max_speed_mps" : 13.39}'
    )
    result = parse(line)
    assert isinstance(result, ObjectReport)
    assert result.inbound is False
    assert result.max_speed_kmh == pytest.approx(13.39 * 3.6)


@pytest.mark.parametrize(
    ("line", "speed"),
    [(b'{"DetectedObjectVelocity":"-12.3"}', -12.3), (b'{"DetectedObjectVelocity": 44}', 44.0)],
)
def test_detected_object_report_is_not_a_frame(line: bytes, speed: float) -> None:
    assert parse(line) == DetectedObject(T, speed)


def test_counter_answer() -> None:
    assert parse(b'{"DetectedObjectCount":3}') == CounterReport(T, 3)


def test_speed_at_exactly_the_maximum_is_accepted() -> None:
    assert speed_of(repr(MAX_KMH).encode()) == MAX_KMH
    assert speed_of(repr(-MAX_KMH).encode()) == -MAX_KMH


def test_non_finite_magnitude_is_dropped_but_speed_kept() -> None:
    result = parse(b"1.0, nan, 20")
    assert result == SpeedFrame(T, 20.0, None)
    result = parse(b'{"speed":20,"magnitude":"inf"}')
    assert result == SpeedFrame(T, 20.0, None)


def test_unusable_magnitude_in_json_is_ignored() -> None:
    assert parse(b'{"speed":20,"magnitude":"loud"}') == SpeedFrame(T, 20.0, None)


# --- garbage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"speed":12.3', "bad_json"),
        (b'{"speed":', "bad_json"),
        (b"{", "bad_json"),
        (b'{"speed":12.3}}', "bad_json"),
        (b"nan", "not_finite"),
        (b"NaN", "not_finite"),
        (b"inf", "not_finite"),
        (b"-inf", "not_finite"),
        (b"-Infinity", "not_finite"),
        (b"137.4, nan", "not_finite"),
        (b'{"speed":NaN}', "not_finite"),
        (b'{"speed":"inf"}', "not_finite"),
        (b'{"speed":-Infinity,"direction":"inbound"}', "not_finite"),
        (b'{"speed":1e400}', "not_finite"),
        (b"999", "out_of_range"),
        (b"-999", "out_of_range"),
        (b"137.429, 999", "out_of_range"),
        (b"137.429, 467, 999", "out_of_range"),
        (b'{"speed":999}', "out_of_range"),
        (b'{"speed":"999","direction":"inbound"}', "out_of_range"),
        (b'{"DetectedObjectVelocity":"-999"}', "out_of_range"),
        (b"1e5", "out_of_range"),
        (b"\xff\xfe12.3", "not_text"),
        ("12,3 km/h \u00e9".encode(), "not_text"),
        ("\uff11\uff12".encode(), "not_text"),
        (b'{"speed":[12.3, 45.6],"magnitude":[400]}', "array_mismatch"),
        (b'{"speed":[12.3, 999]}', "out_of_range"),
        (b'{"speed":3,"range":-1}', "negative_range"),
        (b'{"speed":true}', "not_a_number"),
        (b'{"speed":false}', "not_a_number"),
        (b'{"DetectedObjectVelocity":true}', "not_a_number"),
        (b'{"speed":"fast"}', "not_a_number"),
        (b'{"speed":{"v":1}}', "not_a_number"),
        (b'{"speed":12,"unit":"furlongs"}', "unknown_unit"),
        (b'{"speed":12,"units":5}', "unknown_unit"),
        (b'{"speed":12,"direction":"sideways"}', "bad_direction"),
        (b'{"speed":12,"direction":1}', "bad_direction"),
        (b"12.3 km/h", "not_a_number"),
        (b"abc", "not_a_number"),
        (b"1,,2", "not_a_number"),
        (b"12\x00", "not_a_number"),
        (b"0x10", "not_a_number"),
        (b"1, 2, 3, 4", "unknown_form"),
    ],
)
def test_garbage_is_rejected_with_a_reason(line: bytes, reason: str) -> None:
    result = parse(line)
    assert isinstance(result, Rejected), result
    assert result.reason == reason
    assert result.line == line
    assert result.t == T


@pytest.mark.parametrize("line", [b"[12.3, 45.6]", b"[]", b'"12.3"', b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected(line: bytes) -> None:
    assert isinstance(parse(line), Rejected)


def test_over_long_line_rejected_and_truncated() -> None:
    line = b"1" * (MAX_LINE_BYTES + 1)
    result = parse(line)
    assert isinstance(result, Rejected)
    assert result.reason == "too_long"
    assert result.line == line[:64]


def test_over_long_json_line_rejected() -> None:
    line = b'{"speed":12.3,"pad":"' + b"x" * MAX_LINE_BYTES + b'"}'
    assert rejected_reason(line) == "too_long"


def test_line_of_exactly_max_bytes_is_parsed() -> None:
    line = b" " * (MAX_LINE_BYTES - 4) + b"12.3"
    assert len(line) == MAX_LINE_BYTES
    assert speed_of(line) == 12.3


def test_deeply_nested_json_is_rejected_not_raised() -> None:
    line = b'{"a":' * 80 + b"1" + b"}" * 80
    assert len(line) <= MAX_LINE_BYTES
    assert isinstance(parse(line), InfoLine | Rejected)


@pytest.mark.parametrize(
    "line",
    [
        b'{"speed":1' + b"0" * 400 + b"}",
        b'{"DetectedObjectVelocity":-1' + b"0" * 400 + b"}",
        b'{"speed":12,"magnitude":1' + b"0" * 400 + b"}",
    ],
)
def test_huge_json_integer_is_rejected_not_raised(line: bytes) -> None:
    assert len(line) <= MAX_LINE_BYTES
    result = parse(line)
    assert isinstance(result, Rejected | SpeedFrame)
    if isinstance(result, SpeedFrame):
        assert result.magnitude is None


# --- properties ---------------------------------------------------------------------------


@given(line=st.binary(max_size=MAX_LINE_BYTES + 40), t=st.floats(allow_nan=False))
@example(line=b"", t=0.0)
@example(line=b"{", t=0.0)
@example(line=b"\x00", t=0.0)
@example(line=b"1,2,3", t=0.0)
@example(line=b'{"speed":[1]}', t=0.0)
def test_parse_line_never_raises_on_arbitrary_bytes(line: bytes, t: float) -> None:
    result = parse_line(line, t, MAX_KMH)
    assert isinstance(result, RESULT_TYPES)
    assert result.t == t
    if isinstance(result, SpeedFrame):
        assert math.isfinite(result.speed_kmh)
        assert 0 < abs(result.speed_kmh) <= MAX_KMH


#: JSON values that can appear in a report. Integers are kept within float range: a larger one
#: makes parse_line raise (see test_huge_json_integer_is_rejected_not_raised).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.sampled_from([10**300, -(10**300)])
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
report_keys = st.sampled_from(
    ["speed", "DetectedObjectVelocity", "magnitude", "unit", "units", "direction", "time", "x"]
)


@given(obj=st.dictionaries(report_keys, json_values, max_size=5))
def test_parse_line_never_raises_on_json_shaped_lines(obj: dict[str, object]) -> None:
    line = json.dumps(obj).encode()
    result = parse(line)
    assert isinstance(result, RESULT_TYPES)
    if isinstance(result, SpeedFrame):
        assert math.isfinite(result.speed_kmh)
        assert 0 < abs(result.speed_kmh) <= MAX_KMH


def _direction_json(speed: float) -> bytes:
    word = "inbound" if speed > 0 else "outbound"
    return json.dumps({"speed": abs(speed), "direction": word}).encode()


FORMS: dict[str, Callable[[float], bytes]] = {
    "plain": lambda s: repr(s).encode(),
    "time, speed": lambda s: f"137.429, {s!r}".encode(),
    "time, magnitude, speed": lambda s: f"137.429, 467, {s!r}".encode(),
    "json number": lambda s: json.dumps({"speed": s}).encode(),
    "json string": lambda s: json.dumps({"magnitude": "467.72", "speed": repr(s)}).encode(),
    "json spaced": lambda s: f'{{"speed" : {s!r} , "magnitude" : 456}}'.encode(),
    "json direction": _direction_json,
    "json km/h unit": lambda s: json.dumps({"speed": s, "unit": "km/h"}).encode(),
    "json array": lambda s: json.dumps({"speed": [s], "magnitude": [400]}).encode(),
}

speeds = st.floats(min_value=-MAX_KMH, max_value=MAX_KMH, allow_nan=False).filter(
    lambda s: s != 0.0
)


@given(speed=speeds, form=st.sampled_from(sorted(FORMS)))
@example(speed=MAX_KMH, form="plain")
@example(speed=-MAX_KMH, form="json direction")
@example(speed=5e-324, form="json string")
@example(speed=-1e-300, form="time, magnitude, speed")
def test_any_speed_round_trips_in_every_form(speed: float, form: str) -> None:
    line = FORMS[form](speed)
    result = parse(line)
    assert isinstance(result, SpeedFrame), (line, result)
    assert abs(result.speed_kmh - speed) <= 1e-6
    assert math.copysign(1.0, result.speed_kmh) == math.copysign(1.0, speed)
