"""Report lines of an OPS243-class radar, parsed into speed frames.

This is on the warning path, so it is written for speed: one branch on the first byte, one
``json.loads`` or one ``split``. It never raises on any input; a line that is not a usable report
comes back as a ``Rejected`` with a short reason that the driver counts.

Accepted forms (see docs/radar.md and ../shared/docs/reference/ops243.md), with the sensor set to
km/h by the driver's start-up sequence:

- plain speed ``-12.3``; time and speed ``137.429, 3.6``; time, magnitude, speed
  ``137.429, 467, 3.6``
- JSON with numbers or strings: ``{"speed":12.3,"direction":"inbound"}``,
  ``{"magnitude":"467.72","speed":"-0.25"}``, ``{"speed": 12.5, "magnitude": 456, "uptime": 1.2}``
  (a ``unit``/``units`` field in m/s or mph is converted)
- the detected-object report ``{"DetectedObjectVelocity":"-12.3"}``
- blank lines and zero speeds (the sensor's blank-report modes) mean "no target"
- any other JSON object is an informational line (command echo, query answer)

Sign convention: positive means inbound (approaching the radar), as the sensor reports it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

MAX_LINE_BYTES = 512

_UNIT_TO_KMH = {
    "kmh": 1.0,
    "km/h": 1.0,
    "kph": 1.0,
    "km-per-hr": 1.0,
    "mps": 3.6,
    "m/s": 3.6,
    "m-per-sec": 3.6,
    "mph": 1.609344,
    "miles-per-hr": 1.609344,
}


@dataclass(frozen=True, slots=True)
class SpeedFrame:
    """One radar report: the strongest target's radial speed at a moment."""

    t: float
    """Arrival time on the agent's monotonic clock."""
    speed_kmh: float
    """Signed radial speed in km/h as measured (before angle correction); positive = inbound."""
    magnitude: float | None = None


@dataclass(frozen=True, slots=True)
class NoTarget:
    """A blank or zero report: the sensor sees nothing moving."""

    t: float


@dataclass(frozen=True, slots=True)
class InfoLine:
    """A JSON line that is not a speed report: a command echo or a query answer."""

    t: float
    fields: dict[str, object]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that could not be used; ``reason`` is a short counter key."""

    t: float
    reason: str
    line: bytes


ParsedLine = SpeedFrame | NoTarget | InfoLine | Rejected


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return float(value)
        # float() also takes Python's "1_000" and surrounding spaces: the sensor sends neither.
        if isinstance(value, str) and "_" not in value:
            return float(value)
    except (ValueError, OverflowError):
        return None
    return None


def _check_speed(speed: float, t: float, max_kmh: float, line: bytes) -> SpeedFrame | Rejected:
    if not math.isfinite(speed):
        return Rejected(t, "not_finite", line)
    if abs(speed) > max_kmh:
        return Rejected(t, "out_of_range", line)
    return SpeedFrame(t, speed)


def _parse_json(text: str, t: float, max_kmh: float, line: bytes) -> ParsedLine:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return Rejected(t, "bad_json", line)
    if not isinstance(obj, dict):
        return Rejected(t, "bad_json", line)
    if "speed" in obj:
        raw = obj["speed"]
    elif "DetectedObjectVelocity" in obj:
        raw = obj["DetectedObjectVelocity"]
    else:
        return InfoLine(t, obj)
    if isinstance(raw, list):
        return Rejected(t, "unsupported_array", line)
    speed = _number(raw)
    if speed is None:
        return Rejected(t, "not_a_number", line)
    unit = obj.get("unit", obj.get("units"))
    if unit is not None:
        factor = _UNIT_TO_KMH.get(str(unit).lower())
        if factor is None:
            return Rejected(t, "unknown_unit", line)
        speed *= factor
    direction = obj.get("direction")
    if direction == "inbound":
        speed = abs(speed)
    elif direction == "outbound":
        speed = -abs(speed)
    elif direction is not None:
        return Rejected(t, "bad_direction", line)
    if speed == 0.0:
        return NoTarget(t)
    checked = _check_speed(speed, t, max_kmh, line)
    if isinstance(checked, SpeedFrame):
        magnitude = _number(obj.get("magnitude"))
        if magnitude is not None and math.isfinite(magnitude):
            return SpeedFrame(t, checked.speed_kmh, magnitude)
    return checked


def parse_line(line: bytes, t: float, max_kmh: float) -> ParsedLine:
    """Parse one report line (terminator already stripped) that arrived at monotonic time ``t``.

    ``max_kmh`` is the highest speed the sensor can report at its sampling rate: a larger value
    is physically impossible for it and is rejected, never treated as a fast vehicle.
    """
    if len(line) > MAX_LINE_BYTES:
        return Rejected(t, "too_long", line[:64])
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return Rejected(t, "not_text", line)
    if not text:
        return NoTarget(t)
    if text[0] == "{":
        return _parse_json(text, t, max_kmh, line)
    parts = text.split(",")
    if len(parts) > 3:
        return Rejected(t, "unknown_form", line)
    magnitude: float | None = None
    if "_" in text:
        return Rejected(t, "not_a_number", line)
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
    checked = _check_speed(speed, t, max_kmh, line)
    if magnitude is not None and isinstance(checked, SpeedFrame) and math.isfinite(magnitude):
        return SpeedFrame(t, checked.speed_kmh, magnitude)
    return checked
