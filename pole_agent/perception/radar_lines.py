"""Report lines of an OPS243-class radar, parsed into frames and reports.

This is on the warning path, so it is written for speed: one branch on the first byte, one
``json.loads`` or one ``split``. It never raises on any input; a line that is not usable comes
back as a ``Rejected`` with a short reason that the driver and the pipeline count. Physically
impossible values (faster than the sampling rate can measure, NaN, a negative range) are
rejected, never passed on as a fast vehicle: one bad line can never start a warning.

Accepted forms (docs/radar.md has the table; ../shared/docs/reference/ops243.md the sources),
with the sensor set to km/h by the driver's start-up sequence:

- plain speed ``-12.3``; time and speed ``137.429, 3.6``; time, magnitude, speed
  ``137.429, 467, 3.6``; a unit-tagged value ``"kmph",12.3`` (``"m",4.2`` is a range)
- JSON with numbers or strings: ``{"speed":12.3,"direction":"inbound"}``,
  ``{"magnitude":"467.72","speed":"-0.25","distance":"0.00"}`` (a ``unit``/``units`` field in
  m/s or mph is converted; a positive ``range``/``distance`` is the target's range)
- several targets per frame (``On``): ``{"speed":[12.3,-4.1],"magnitude":[410,120]}``
- range reports of the OPS243-C: ``{"range":12.3,"unit":"m"}``, ``{"range":[12.3,30.1]}``
- object reports ``{"classifier":"object_inbound","max_speed_mps":13.4,...}``, the ``ON``
  detected-object report ``{"DetectedObjectVelocity":"-12.3"}`` and the counter answer
  ``{"DetectedObjectCount":3}``
- spectrum lines ``SPEC1,...``: the format is defined (and decoded) by
  ``pole_agent.perception.spectrum``; a bad one is rejected with its ``spectrum_*`` reason
- blank lines and zero speeds (the sensor's blank-report modes) mean "no target"
- any other JSON object is an informational line (command echo, query answer)

Sign convention: positive means inbound (approaching the radar), as the sensor reports it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from pole_agent.perception.spectrum import (
    MAX_SPECTRUM_LINE_BYTES,
    SpectrumFrame,
    SpectrumRejected,
    decode_spectrum,
    is_spectrum_line,
)

MAX_LINE_BYTES = 512
"""Longest report line (spectrum lines excepted); anything longer is ``too_long``."""
MAX_TARGETS = 16
"""Most targets accepted in one array frame (the sensor sends at most 9)."""
MAX_RANGE_M = 200.0
"""Farther than any OPS243-C can see a vehicle: a larger range is not a measurement."""

_UNIT_TO_KMH = {
    "kmh": 1.0,
    "km/h": 1.0,
    "kph": 1.0,
    "kmph": 1.0,
    "km-per-hr": 1.0,
    "mps": 3.6,
    "m/s": 3.6,
    "m-per-sec": 3.6,
    "mph": 1.609344,
    "miles-per-hr": 1.609344,
    "cm-per-sec": 0.036,
    "cmps": 0.036,
    "ft-per-sec": 1.09728,
    "fps": 1.09728,
}
_UNIT_TO_M = {"m": 1.0, "meters": 1.0, "cm": 0.01, "ft": 0.3048, "feet": 0.3048, "in": 0.0254}


@dataclass(frozen=True, slots=True)
class Echo:
    """One more target of a multi-target frame (weaker than the frame's first)."""

    speed_kmh: float
    magnitude: float | None = None
    range_m: float | None = None


@dataclass(frozen=True, slots=True)
class SpeedFrame:
    """One radar report: the strongest target's radial speed at a moment, and any others."""

    t: float
    """Arrival time on the agent's monotonic clock."""
    speed_kmh: float
    """Signed radial speed in km/h as measured (before angle correction); positive = inbound."""
    magnitude: float | None = None
    range_m: float | None = None
    """Range to the target when the same line carried it (OPS243-C); else None."""
    more: tuple[Echo, ...] = ()
    """Weaker targets of the same frame (``On`` with n > 1), strongest first."""

    def echoes(self) -> tuple[Echo, ...]:
        """Every target of the frame, strongest first."""
        return (Echo(self.speed_kmh, self.magnitude, self.range_m), *self.more)


@dataclass(frozen=True, slots=True)
class RangeFrame:
    """An OPS243-C range report: distances (m) to the targets, strongest first."""

    t: float
    ranges_m: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class NoTarget:
    """A blank or zero report: the sensor sees nothing moving (and is alive)."""

    t: float


@dataclass(frozen=True, slots=True)
class ObjectReport:
    """The sensor's own summary of one object that crossed the beam (``OC``)."""

    t: float
    inbound: bool
    max_speed_kmh: float
    min_speed_kmh: float | None
    frames: int | None
    length_m: float | None


@dataclass(frozen=True, slots=True)
class DetectedObject:
    """The ``ON`` report: one peak speed per detected object (signed, km/h)."""

    t: float
    speed_kmh: float


@dataclass(frozen=True, slots=True)
class CounterReport:
    """The answer to ``N?``: objects detected since the last ``N!``."""

    t: float
    count: int


@dataclass(frozen=True, slots=True)
class SpectrumLine:
    """A spectrum (FFT) line, decoded by ``pole_agent.perception.spectrum``."""

    t: float
    spectrum: SpectrumFrame


@dataclass(frozen=True, slots=True)
class InfoLine:
    """A JSON line that is not a report: a command echo or a query answer."""

    t: float
    fields: dict[str, object]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that could not be used; ``reason`` is a short counter key."""

    t: float
    reason: str
    line: bytes


ParsedLine = (
    SpeedFrame
    | RangeFrame
    | NoTarget
    | ObjectReport
    | DetectedObject
    | CounterReport
    | SpectrumLine
    | InfoLine
    | Rejected
)
REPORT_TYPES = (SpeedFrame, RangeFrame, NoTarget, ObjectReport, DetectedObject, CounterReport)
"""Lines that show the sensor is measuring (a live sensor sends one of these every frame)."""


class _BadValueError(Exception):
    """Internal: a value that makes the line unusable; its message is the reason."""


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float | str):
            return float(value)
    except (ValueError, OverflowError):
        return None
    return None


def _speed(value: object, factor: float, max_kmh: float) -> float:
    speed = _number(value)
    if speed is None:
        raise _BadValueError("not_a_number")
    speed *= factor
    if not math.isfinite(speed):
        raise _BadValueError("not_finite")
    if abs(speed) > max_kmh:
        raise _BadValueError("out_of_range")
    return speed


def _range(value: object, factor: float = 1.0) -> float | None:
    """A range in m; None for 0 (the Doppler-only sensor's placeholder)."""
    distance = _number(value)
    if distance is None:
        raise _BadValueError("not_a_number")
    distance *= factor
    if not math.isfinite(distance):
        raise _BadValueError("not_finite")
    if distance < 0:
        raise _BadValueError("negative_range")
    if distance > MAX_RANGE_M:
        raise _BadValueError("out_of_range")
    return distance or None


def _magnitude(value: object) -> float | None:
    magnitude = _number(value)
    return magnitude if magnitude is not None and math.isfinite(magnitude) else None


def _speed_factor(obj: dict[str, object]) -> float:
    unit = obj.get("unit", obj.get("units"))
    if unit is None:
        return 1.0
    factor = _UNIT_TO_KMH.get(str(unit).lower())
    if factor is None:
        raise _BadValueError("unknown_unit")
    return factor


def _range_factor(obj: dict[str, object]) -> float:
    unit = obj.get("unit", obj.get("units"))
    if unit is None:
        return 1.0
    factor = _UNIT_TO_M.get(str(unit).lower())
    if factor is None:
        raise _BadValueError("unknown_unit")
    return factor


def _speed_array(
    obj: dict[str, object], speeds: list[object], t: float, max_kmh: float
) -> SpeedFrame | NoTarget:
    magnitudes = obj.get("magnitude")
    ranges = obj.get("range", obj.get("distance"))
    count = len(speeds)
    if count > MAX_TARGETS:
        raise _BadValueError("too_many_targets")
    if magnitudes is not None and (not isinstance(magnitudes, list) or len(magnitudes) != count):
        raise _BadValueError("array_mismatch")
    if ranges is not None and (not isinstance(ranges, list) or len(ranges) != count):
        raise _BadValueError("array_mismatch")
    factor = _speed_factor(obj)
    echoes = []
    for i, raw in enumerate(speeds):
        speed = _speed(raw, factor, max_kmh)
        if speed == 0.0:
            continue  # padding of a frame with fewer targets than asked for
        magnitude = None if magnitudes is None else _magnitude(magnitudes[i])
        distance = None if ranges is None else _range(ranges[i])
        echoes.append(Echo(speed, magnitude, distance))
    if not echoes:
        return NoTarget(t)
    if magnitudes is not None:  # strongest first, whatever order the sensor sorted by
        echoes.sort(key=lambda e: -(e.magnitude or 0.0))
    first = echoes[0]
    return SpeedFrame(t, first.speed_kmh, first.magnitude, first.range_m, tuple(echoes[1:]))


def _object_report(obj: dict[str, object], t: float, max_kmh: float) -> ObjectReport:
    classifier = obj.get("classifier")
    if classifier not in ("object_inbound", "object_outbound"):
        raise _BadValueError("bad_object")
    max_speed = abs(_speed(obj.get("max_speed_mps"), 3.6, max_kmh))
    min_speed = obj.get("min_speed_mps")
    frames = _number(obj.get("total_frames"))
    length = _magnitude(obj.get("length_m"))
    return ObjectReport(
        t,
        inbound=classifier == "object_inbound",
        max_speed_kmh=max_speed,
        min_speed_kmh=None if min_speed is None else abs(_speed(min_speed, 3.6, max_kmh)),
        frames=int(frames) if frames is not None and 0 <= frames < 1e9 else None,
        length_m=length if length is not None and length >= 0 else None,
    )


def _parse_object(obj: dict[str, object], t: float, max_kmh: float) -> ParsedLine:
    raw = obj.get("speed")
    if raw is not None:
        if isinstance(raw, list):
            return _speed_array(obj, raw, t, max_kmh)
        speed = _speed(raw, _speed_factor(obj), max_kmh)
        direction = obj.get("direction")
        if direction == "inbound":
            speed = abs(speed)
        elif direction == "outbound":
            speed = -abs(speed)
        elif direction is not None:
            raise _BadValueError("bad_direction")
        if speed == 0.0:
            return NoTarget(t)
        distance = obj.get("range", obj.get("distance"))
        return SpeedFrame(
            t,
            speed,
            _magnitude(obj.get("magnitude")),
            None if distance is None else _range(distance),
        )
    raw = obj.get("range")
    if raw is not None:
        factor = _range_factor(obj)
        values = raw if isinstance(raw, list) else [raw]
        if len(values) > MAX_TARGETS:
            raise _BadValueError("too_many_targets")
        ranges = tuple(r for r in (_range(v, factor) for v in values) if r is not None)
        return RangeFrame(t, ranges) if ranges else NoTarget(t)
    raw = obj.get("DetectedObjectVelocity")
    if raw is not None:
        speed = _speed(raw, _speed_factor(obj), max_kmh)
        return DetectedObject(t, speed) if speed else NoTarget(t)
    if "classifier" in obj:
        return _object_report(obj, t, max_kmh)
    raw = obj.get("DetectedObjectCount")
    if raw is not None:
        count = _number(raw)
        if count is None or not 0 <= count <= 1e12 or count != int(count):
            raise _BadValueError("bad_counter")
        return CounterReport(t, int(count))
    return InfoLine(t, obj)


def _parse_json(text: str, t: float, max_kmh: float, line: bytes) -> ParsedLine:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Rejected(t, "bad_json", line)
    if not isinstance(obj, dict):
        return Rejected(t, "bad_json", line)
    try:
        return _parse_object(obj, t, max_kmh)
    except _BadValueError as bad:
        return Rejected(t, str(bad), line)


def _parse_tagged(text: str, t: float, max_kmh: float, line: bytes) -> ParsedLine:
    """``"unit",value``: a speed or (with a distance unit) a range, as ``OU`` prints them."""
    unit, _, value = text.partition(",")
    unit = unit.strip().strip('"').lower()
    try:
        if unit in _UNIT_TO_M:
            distance = _range(value.strip(), _UNIT_TO_M[unit])
            return NoTarget(t) if distance is None else RangeFrame(t, (distance,))
        factor = _UNIT_TO_KMH.get(unit)
        if factor is None:
            return Rejected(t, "unknown_unit", line)
        speed = _speed(value.strip(), factor, max_kmh)
    except _BadValueError as bad:
        return Rejected(t, str(bad), line)
    return NoTarget(t) if speed == 0.0 else SpeedFrame(t, speed)


def _parse_plain(text: str, t: float, max_kmh: float, line: bytes) -> ParsedLine:
    parts = text.split(",")
    if len(parts) > 3:
        return Rejected(t, "unknown_form", line)
    magnitude: float | None = None
    try:
        speed = float(parts[-1])
        if len(parts) == 3:
            magnitude = float(parts[1])
            float(parts[0])
        elif len(parts) == 2:
            float(parts[0])
    except ValueError:
        return Rejected(t, "not_a_number", line)
    if speed == 0.0:
        return NoTarget(t)
    if not math.isfinite(speed):
        return Rejected(t, "not_finite", line)
    if abs(speed) > max_kmh:
        return Rejected(t, "out_of_range", line)
    if magnitude is not None and not math.isfinite(magnitude):
        magnitude = None
    return SpeedFrame(t, speed, magnitude)


MAX_SPECTRUM_BYTES = MAX_SPECTRUM_LINE_BYTES


def _parse_spectrum(line: bytes, t: float) -> SpectrumLine | Rejected:
    """A line that starts with the spectrum magic: decoded by ``pole_agent.perception.spectrum``
    (the one definition of the format); its rejections keep their ``spectrum_*`` reasons."""
    decoded = decode_spectrum(line)
    if isinstance(decoded, SpectrumRejected):
        return Rejected(t, decoded.reason, line[:64])
    return SpectrumLine(t, decoded)


def parse_line(line: bytes, t: float, max_kmh: float) -> ParsedLine:
    """Parse one report line (terminator already stripped) that arrived at monotonic time ``t``.

    ``max_kmh`` is the highest speed the sensor can report at its sampling rate: a larger value
    is physically impossible for it and is rejected, never treated as a fast vehicle.
    """
    if is_spectrum_line(line):
        return _parse_spectrum(line, t)
    if len(line) > MAX_LINE_BYTES:
        return Rejected(t, "too_long", line[:64])
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return Rejected(t, "not_text", line)
    if not text:
        return NoTarget(t)
    first = text[0]
    if first == "{":
        return _parse_json(text, t, max_kmh, line)
    if first == '"':
        return _parse_tagged(text, t, max_kmh, line)
    return _parse_plain(text, t, max_kmh, line)
