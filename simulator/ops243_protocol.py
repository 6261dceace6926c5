"""The OPS243's serial protocol as data and pure functions: commands, echoes, report lines.

Kept apart from the emulator's threads and faults so that the wire format lives in one place and
can be read (and tested) without a pty. ``docs/reference/ops243.md`` in the shared docs is the
source; where it is silent, the choices here are the project's and are marked so.

Measurement model: the sensor samples I/Q at ``sampling_rate_hz`` and runs a 1024-point complex
FFT, so a speed is known only to one FFT bin (``resolution_mps``: about 0.0607 m/s at 10 kHz) and
speeds beyond half the band (``max_speed_mps``: about 31 m/s at 10 kHz) wrap around to the other
end with the opposite sign, exactly as an FFT aliases. Both scale linearly with the sampling rate.
A reading in the DC bin (0 m/s) is clutter and never reported.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from string import Template
from typing import Final, Literal

SPEED_OF_LIGHT_MPS: Final = 299_792_458.0
CARRIER_HZ: Final = 24.125e9
WAVELENGTH_M: Final = SPEED_OF_LIGHT_MPS / CARRIER_HZ
FFT_SIZE: Final = 1024
LINE_END: Final = b"\r\n"

DirectionFilter = Literal["both", "inbound", "outbound"]
BlankMode = Literal["off", "zeros", "blank_lines"]

UNITS_PER_MPS: Final[dict[str, float]] = {
    "m-per-sec": 1.0,
    "km-per-hr": 3.6,
    "mph": 3600.0 / 1609.344,  # the international mile, as the vendor's manual says
    "cm-per-sec": 100.0,
    "ft-per-sec": 1.0 / 0.3048,
}
UNIT_COMMANDS: Final[dict[str, str]] = {
    "UM": "m-per-sec",
    "UK": "km-per-hr",
    "US": "mph",
    "UC": "cm-per-sec",
    "UF": "ft-per-sec",
}
SAMPLING_COMMANDS: Final[dict[str, int]] = {
    "SI": 1_000,
    "SV": 5_000,
    "SX": 10_000,
    "S1": 10_000,
    "S2": 20_000,
    "SL": 50_000,
    "SC": 100_000,
}
NUMERIC_PREFIXES: Final = frozenset({"R>", "R<", "M>", "M<", "C=", "T=", "N>", "N<", "r>", "r<"})
"""Commands that carry a number and end with a carriage return (unknown ones are still framed
this way so that the stream stays in step)."""
MAX_NUMERIC_COMMAND: Final = 32
"""Bytes a numeric command may take before the parser gives up waiting for its ``\\r``."""

PRODUCT: Final = "OPS243"
VERSION: Final = "1.3.1"
Model = Literal["OPS243-A", "OPS243-C"]
PART_NAMES: Final[dict[str, str]] = {
    "OPS243-A": "OPS243 Doppler",  # [V] the -A's ?P answer
    "OPS243-C": "OPS243-C FMCW & Doppler",  # [P] the -C's part name as its datasheet titles it
}
RANGE_RESOLUTION_M: Final = 0.1
"""Range step of the -C's reports [P]: its FMCW bin is coarser, the firmware interpolates."""
MAX_REPORTS_PER_FRAME: Final = 9

# Every echo line the emulator writes, by command. Templates use ``$name`` fields filled from the
# device state (see ``_echo_fields``). Sources: [V] the vendor's OPS243-A manual / API notes,
# [C] captured from a sensor in an open project, [P] the project's choice where no source says.
ECHO_TABLE: Final[dict[str, str]] = {
    "UM": '{"Units":"$units"}',  # [V] {"Units":"m-per-sec"}
    "UK": '{"Units":"$units"}',  # [V] {"Units":"km-per-hr"}
    "US": '{"Units":"$units"}',  # [V] {"Units":"mph"}
    "UC": '{"Units":"$units"}',  # [V] {"Units":"cm-per-sec"}
    "UF": '{"Units":"$units"}',  # [V] {"Units":"ft-per-sec"}
    "U?": '{"Units":"$units"}',  # [V]
    "OJ": '{"OutputFeature":"J"}',  # [C]
    "Oj": '{"OutputFeature":"j"}',  # [C]
    "OM": '{"OutputFeature":"M"}',  # [C]
    "Om": '{"OutputFeature":"m"}',  # [P] by analogy with Oj
    "OS": '{"OutputFeature":"S"}',  # [P]
    "Os": '{"OutputFeature":"s"}',  # [P]
    "OT": '{"OutputFeature":"T"}',  # [P]
    "Ot": '{"OutputFeature":"t"}',  # [P]
    "OD": '{"OutputFeature":"D"}',  # [P] range reports, OPS243-C only
    "Od": '{"OutputFeature":"d"}',  # [P]
    "OC": '{"OutputFeature":"C"}',  # [P] object reports (UNVERIFIED in the reference)
    "Oc": '{"OutputFeature":"c"}',  # [P]
    "ON": '{"OutputFeature":"N"}',  # [P] one detected-object report per object
    "On": '{"OutputFeature":"n"}',  # [P]
    **{f"O{n}": '{"OutputNumber":"$reports"}' for n in range(1, 10)},  # [P] On: n per frame
    "C=": '{"Clock":"$clock"}',  # [P] the clock after setting it
    "R|": '{"RequiredDirection":"Both"}',  # [P] key as read by the vendor's Node demo
    "R+": '{"RequiredDirection":"Inbound"}',  # [P]
    "R-": '{"RequiredDirection":"Outbound"}',  # [P]
    "R>": '{"RequiredMinSpeed":"$min_speed"}',  # [P] key and format as in the ?? answer
    "R<": '{"RequiredMaxSpeed":"$max_speed"}',  # [P]
    "M>": '{"SquelchMin":"$min_magnitude"}',  # [P] key as read by the vendor's Node demo
    "M<": '{"SquelchMax":"$max_magnitude"}',  # [P]
    # [P] every sampling command answers with the sampling-rate line of the ?? answer
    **{
        cmd: '{"SamplingRate":$sampling_rate, "resolution":$resolution}'
        for cmd in SAMPLING_COMMANDS
    },
    "BZ": '{"BlankReporting":"Zeros"}',  # [P]
    "BL": '{"BlankReporting":"BlankLines"}',  # [P]
    "BV": '{"BlankReporting":"Off"}',  # [P]
    **{f"F{n}": '{"DecimalPlaces":$decimal_places}' for n in range(6)},  # [P]
    "N?": '{"DetectedObjectCount":$count}',  # [V]
    "N!": '{"DetectedObjectCount":$count}',  # [P] the count after the reset, i.e. 0
    "A!": '{"Flash":"SettingsSaved"}',  # [P]
    "AX": '{"Flash":"FactoryDefaults"}',  # [P]
    "?P": '{"Product":"$part"}',  # [V] for the -A: "OPS243 Doppler"
    "?R": '{"ResetReason":"Power On"}',  # [V] shape simplified
    "?V": '{"Version":"$version"}',  # [V] {"Version":"1.3.1"}
    "?U": '{"UID":"$uid"}',  # [V] shape; the value is made up per emulator seed
    "??": "\n".join(  # [V] one JSON object a line, current values filled in
        [
            '{"Product":"$product"}',
            '{"Version":"$version"}',
            '{"SamplingRate":$sampling_rate, "resolution":$resolution}',
            '{"SampleSize":1024}',
            '{"Clock":"$clock"}',
            '{"PowerMode":"Continuous"}',
            '{"Squelch":"$min_magnitude"}',
            '{"RequiredMinSpeed":"$min_speed"}',
        ]
    ),
    "?unknown": '{"error":"unknown command","command":"$command"}',  # [P]
    "?badnumber": '{"error":"bad number","command":"$command"}',  # [P]
}


def resolution_mps(sampling_rate_hz: float) -> float:
    """Width of one FFT bin in m/s (0.0607 at 10 kHz)."""
    return sampling_rate_hz * WAVELENGTH_M / (2 * FFT_SIZE)


def max_speed_mps(sampling_rate_hz: float) -> float:
    """Largest speed before aliasing (about 31 m/s at 10 kHz)."""
    return sampling_rate_hz * WAVELENGTH_M / 4


@dataclass
class Ops243Settings:
    """What the commands change; the defaults are the factory settings."""

    range_output: bool = False  # OD (OPS243-C only)
    object_output: bool = False  # OC
    detected_object_output: bool = False  # ON
    reports_per_frame: int = 1  # O1..O9
    units: str = "m-per-sec"
    json_output: bool = False
    direction: DirectionFilter = "both"
    min_speed_mps: float = 0.0  # R>n, 0 = no limit; kept in m/s so a later unit change is moot
    max_speed_mps: float = 0.0  # R<n, 0 = no limit
    min_magnitude: float = 0.0  # M>n
    max_magnitude: float = 0.0  # M<n, 0 = no limit
    sampling_rate_hz: int = 10_000
    speed_output: bool = True
    magnitude_output: bool = False
    time_output: bool = False
    blank_mode: BlankMode = "off"
    decimal_places: int = 2  # UNVERIFIED: the factory default of F is not documented

    def copy(self) -> Ops243Settings:
        return dataclasses.replace(self)


@dataclass
class DeviceState:
    """Everything the sensor remembers: live settings, the flash copy, the object counter."""

    uid: str
    power_on_s: float
    model: Model = "OPS243-A"
    clock_offset_s: float = 0.0
    """Added to the uptime by ``C=``: the sensor's clock reads ``uptime + offset``."""
    settings: Ops243Settings = dataclasses.field(default_factory=Ops243Settings)
    flash: Ops243Settings = dataclasses.field(default_factory=Ops243Settings)
    detected_count: int = 0

    def power_cycle(self, now_s: float) -> None:
        """Reload settings from flash (factory defaults unless ``A!`` saved others)."""
        self.settings = self.flash.copy()
        self.detected_count = 0
        self.power_on_s = now_s
        self.clock_offset_s = 0.0

    def clock(self, now_s: float) -> float:
        """The sensor's clock: seconds since power-on, plus what ``C=`` set."""
        return now_s - self.power_on_s + self.clock_offset_s


class CommandParser:
    """Splits the byte stream from the host into commands, whatever way it was chunked.

    Two-character commands have no terminator; those in ``NUMERIC_PREFIXES`` run to a ``\\r``
    (a ``\\n`` is accepted too). Whitespace and line ends between commands are skipped, since
    many hosts send ``\\r\\n`` after every command.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skipping = False  # discarding the tail of an overlong command up to its line end

    def reset(self) -> None:
        self._buffer.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        commands: list[str] = []
        while True:
            if self._skipping:
                end = _find_line_end(self._buffer)
                if end < 0:
                    self._buffer.clear()
                    return commands
                del self._buffer[: end + 1]
                self._skipping = False
            while self._buffer and self._buffer[0] in b"\r\n \t\0":
                del self._buffer[:1]
            if len(self._buffer) < 2:
                return commands
            prefix = self._buffer[:2].decode("latin-1")
            if prefix not in NUMERIC_PREFIXES:
                del self._buffer[:2]
                commands.append(prefix)
                continue
            end = _find_line_end(self._buffer)
            if end >= 0:
                commands.append(self._buffer[:end].decode("latin-1"))
                del self._buffer[: end + 1]
            elif len(self._buffer) > MAX_NUMERIC_COMMAND:
                # Never terminated: answer it once (as a bad command) and drop the rest of it.
                commands.append(self._buffer[:MAX_NUMERIC_COMMAND].decode("latin-1"))
                self._buffer.clear()
                self._skipping = True
            else:
                return commands


def _find_line_end(buffer: bytearray) -> int:
    positions = [p for p in (buffer.find(b"\r"), buffer.find(b"\n")) if p >= 0]
    return min(positions) if positions else -1


def execute(command: str, state: DeviceState, now_s: float) -> list[bytes]:
    """Apply one command to ``state`` and return its echo lines (each ending in ``\\r\\n``)."""
    code, argument = command[:2], command[2:].strip()
    settings = state.settings
    key = code
    if code in UNIT_COMMANDS:
        settings.units = UNIT_COMMANDS[code]
    elif code in SAMPLING_COMMANDS:
        settings.sampling_rate_hz = SAMPLING_COMMANDS[code]
    elif code in ("OD", "Od") and state.model != "OPS243-C":
        key = "?unknown"  # the Doppler-only part has no range
    elif code == "C=":
        try:
            value = float(argument)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            key = "?badnumber"
        else:
            state.clock_offset_s = value - (now_s - state.power_on_s)
    elif len(code) == 2 and code[0] == "O" and code[1] in "123456789":
        settings.reports_per_frame = int(code[1])
    elif code in ("R>", "R<", "M>", "M<"):
        try:
            value = float(argument)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            key = "?badnumber"
        elif code == "R>":
            settings.min_speed_mps = value / UNITS_PER_MPS[settings.units]
        elif code == "R<":
            settings.max_speed_mps = value / UNITS_PER_MPS[settings.units]
        elif code == "M>":
            settings.min_magnitude = value
        else:
            settings.max_magnitude = value
    elif code in _TOGGLES:
        field, value_set = _TOGGLES[code]
        setattr(settings, field, value_set)
    elif code == "N!":
        state.detected_count = 0
    elif code == "A!":
        state.flash = settings.copy()
    elif code == "AX":
        state.flash = Ops243Settings()
        state.settings = Ops243Settings()
    elif len(code) == 2 and code[0] == "F" and code[1:].isdigit() and int(code[1]) <= 5:
        settings.decimal_places = int(code[1])
    elif code not in ECHO_TABLE:
        key = "?unknown"
    text = Template(ECHO_TABLE[key]).substitute(_echo_fields(state, now_s, command))
    return [line.encode() + LINE_END for line in text.split("\n")]


_TOGGLES: Final[dict[str, tuple[str, object]]] = {
    "OJ": ("json_output", True),
    "Oj": ("json_output", False),
    "OM": ("magnitude_output", True),
    "Om": ("magnitude_output", False),
    "OS": ("speed_output", True),
    "Os": ("speed_output", False),
    "OT": ("time_output", True),
    "Ot": ("time_output", False),
    "R|": ("direction", "both"),
    "R+": ("direction", "inbound"),
    "R-": ("direction", "outbound"),
    "OD": ("range_output", True),
    "Od": ("range_output", False),
    "OC": ("object_output", True),
    "Oc": ("object_output", False),
    "ON": ("detected_object_output", True),
    "On": ("detected_object_output", False),
    "BZ": ("blank_mode", "zeros"),
    "BL": ("blank_mode", "blank_lines"),
    "BV": ("blank_mode", "off"),
}


def _echo_fields(state: DeviceState, now_s: float, command: str) -> dict[str, str]:
    s = state.settings
    per_mps = UNITS_PER_MPS[s.units]
    return {
        "units": s.units,
        "min_speed": f"{s.min_speed_mps * per_mps:.3f}",
        "max_speed": f"{s.max_speed_mps * per_mps:.3f}",
        "min_magnitude": f"{s.min_magnitude:g}",
        "max_magnitude": f"{s.max_magnitude:g}",
        "sampling_rate": str(s.sampling_rate_hz),
        "resolution": f"{resolution_mps(s.sampling_rate_hz):.4f}",
        "decimal_places": str(s.decimal_places),
        "count": str(state.detected_count),
        "product": PRODUCT if state.model == "OPS243-A" else "OPS243-C",
        "part": PART_NAMES[state.model],
        "reports": str(s.reports_per_frame),
        "version": VERSION,
        "uid": state.uid,
        "clock": str(int(state.clock(now_s))),
        "command": json.dumps(command)[1:-1],
    }


def measure_mps(
    radial_mps: float, sampling_rate_hz: int, resolution_override_mps: float | None = None
) -> float:
    """The speed the sensor reports for a true radial speed: quantised to a bin, aliased.

    ``resolution_override_mps`` replaces the bin width (0 turns quantisation off); aliasing
    always follows the sampling rate.
    """
    v_max = max_speed_mps(sampling_rate_hz)
    wrapped = radial_mps
    if not -v_max <= radial_mps < v_max:
        wrapped = (radial_mps + v_max) % (2 * v_max) - v_max
    if resolution_override_mps is None:
        step = resolution_mps(sampling_rate_hz)
    elif resolution_override_mps == 0:
        return wrapped
    else:
        step = resolution_override_mps
    measured = round(wrapped / step) * step
    if measured >= v_max:  # rounding up into the top bin lands on the bottom one
        measured -= 2 * v_max
    return measured


def passes_filters(speed_mps: float, magnitude: float, settings: Ops243Settings) -> bool:
    """Whether a measured speed survives the direction, speed and magnitude filters."""
    if speed_mps == 0:
        return False
    if settings.direction == "inbound" and speed_mps < 0:
        return False
    if settings.direction == "outbound" and speed_mps > 0:
        return False
    speed = abs(speed_mps)
    if settings.min_speed_mps and speed <= settings.min_speed_mps:
        return False
    if settings.max_speed_mps and speed >= settings.max_speed_mps:
        return False
    if magnitude < settings.min_magnitude:
        return False
    return not (settings.max_magnitude and magnitude > settings.max_magnitude)


def format_report(
    speed_mps: float | None,
    magnitude: float,
    uptime_s: float,
    settings: Ops243Settings,
    *,
    numbers_as_strings: bool = False,
) -> bytes:
    """One report line in the current output format; ``speed_mps=None`` is a BZ zero report.

    Plain: ``[time, ][magnitude, ]speed``. JSON: ``{"speed":..,"direction":..}`` plus
    ``"magnitude"`` and ``"time"`` when those outputs are on (no ``direction`` on a zero report).
    """
    places = settings.decimal_places
    speed_units = 0.0 if speed_mps is None else speed_mps * UNITS_PER_MPS[settings.units]
    speed_text = _fixed(speed_units, places)
    magnitude_text = f"{magnitude:.1f}"
    time_text = f"{uptime_s:.3f}"
    if not settings.json_output:
        columns = []
        if settings.time_output:
            columns.append(time_text)
        if settings.magnitude_output:
            columns.append(magnitude_text)
        columns.append(speed_text)
        return ", ".join(columns).encode() + LINE_END
    fields: list[tuple[str, str]] = [("speed", _json_number(speed_text, numbers_as_strings))]
    if speed_mps is not None:
        fields.append(("direction", '"inbound"' if speed_mps > 0 else '"outbound"'))
    if settings.magnitude_output:
        fields.append(("magnitude", _json_number(magnitude_text, numbers_as_strings)))
    if settings.time_output:
        fields.append(("time", _json_number(time_text, numbers_as_strings)))
    body = ",".join(f'"{name}":{value}' for name, value in fields)
    return ("{" + body + "}").encode() + LINE_END


def _fixed(value: float, places: int) -> str:
    text = f"{value:.{places}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _json_number(text: str, as_string: bool) -> str:
    return f'"{text}"' if as_string else text


def format_frame(
    echoes: list[tuple[float, float]],
    uptime_s: float,
    settings: Ops243Settings,
    *,
    numbers_as_strings: bool = False,
) -> list[bytes]:
    """The report lines of one frame with ``echoes`` (measured m/s, magnitude), strongest
    first, already filtered and cut to ``reports_per_frame``.

    One target: ``format_report``'s single line. Several, in JSON [P, from traffic-monitor's
    description]: one line with ``speed`` and ``magnitude`` arrays of the same length, strongest
    first, and ``time`` when on. Several in plain output [P]: one line per target, strongest
    first (a plain line has no room for arrays without clashing with the time column).
    """
    if len(echoes) <= 1 or not settings.json_output:
        return [
            format_report(
                speed, magnitude, uptime_s, settings, numbers_as_strings=numbers_as_strings
            )
            for speed, magnitude in echoes
        ]
    per = UNITS_PER_MPS[settings.units]
    speeds = [_fixed(speed * per, settings.decimal_places) for speed, _ in echoes]
    mags = [f"{magnitude:.1f}" for _, magnitude in echoes]
    fields = [
        ("speed", "[" + ",".join(_json_number(v, numbers_as_strings) for v in speeds) + "]"),
        ("magnitude", "[" + ",".join(_json_number(v, numbers_as_strings) for v in mags) + "]"),
    ]
    if settings.time_output:
        fields.append(("time", _json_number(f"{uptime_s:.3f}", numbers_as_strings)))
    body = ",".join(f'"{name}":{value}' for name, value in fields)
    return [("{" + body + "}").encode() + LINE_END]


def measure_range_m(range_m: float) -> float:
    """The range the -C reports for a true range: quantised to its reporting step."""
    return max(0.0, round(range_m / RANGE_RESOLUTION_M) * RANGE_RESOLUTION_M)


def format_range(ranges_m: list[float], settings: Ops243Settings) -> bytes:
    """The -C's range report for one frame (strongest target first) [P]: JSON
    ``{"range":12.3,"unit":"m"}`` (an array for several targets); plain ``"m",12.3`` (unit-tagged
    so that it cannot be taken for a speed)."""
    texts = [f"{r:.1f}" for r in ranges_m]
    if not settings.json_output:
        return f'"m",{texts[0]}'.encode() + LINE_END
    value = texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"
    return f'{{"range":{value},"unit":"m"}}'.encode() + LINE_END


@dataclass
class ObjectTrack:
    """What the sensor remembers of one object while it is reported, for ``OC``/``ON``."""

    start_s: float
    end_s: float
    max_speed_mps: float
    min_speed_mps: float
    max_magnitude: float
    magnitude_sum: float
    frames: int
    signed_peak_mps: float

    @classmethod
    def first(cls, t: float, speed_mps: float, magnitude: float) -> ObjectTrack:
        return cls(t, t, abs(speed_mps), abs(speed_mps), magnitude, magnitude, 1, speed_mps)

    def add(self, t: float, speed_mps: float, magnitude: float) -> None:
        self.end_s = t
        if abs(speed_mps) > self.max_speed_mps:
            self.max_speed_mps = abs(speed_mps)
            self.signed_peak_mps = speed_mps
        self.min_speed_mps = min(self.min_speed_mps, abs(speed_mps))
        self.max_magnitude = max(self.max_magnitude, magnitude)
        self.magnitude_sum += magnitude
        self.frames += 1


def format_object_report(track: ObjectTrack) -> bytes:
    """The ``OC`` per-object report, in the captured form of the reference (times as strings,
    speeds in m/s whatever the units) [C]; ``length_m`` is the distance covered at the peak
    speed over the object's time in the beam, as the field is understood [P]."""
    duration = max(0.0, track.end_s - track.start_s)
    inbound = track.signed_peak_mps > 0
    speed_change = track.max_speed_mps - track.min_speed_mps
    per_mps = track.frames / track.max_speed_mps if track.max_speed_mps else 0.0
    return (
        f'{{"classifier":"object_{"inbound" if inbound else "outbound"}",'
        f'"start_time":"{track.start_s:.3f}","end_time":"{track.end_s:.3f}",'
        f'"delta_time_msec":{round(duration * 1000)},'
        f'"max_speed_mps":{track.max_speed_mps:.2f},"min_speed_mps":{track.min_speed_mps:.2f},'
        f'"max_magnitude":{round(track.max_magnitude)},'
        f'"avg_magnitude":{round(track.magnitude_sum / track.frames)},'
        f'"total_frames":{track.frames},"frames_per_mps":{per_mps:.4f},'
        f'"length_m":{track.max_speed_mps * duration:.2f},"speed_change":{speed_change:.3f}}}'
    ).encode() + LINE_END


def format_detected_object(track: ObjectTrack, settings: Ops243Settings) -> bytes:
    """The ``ON`` report: the object's peak speed (signed, current units) as a string [C]."""
    value = _fixed(track.signed_peak_mps * UNITS_PER_MPS[settings.units], settings.decimal_places)
    return f'{{"DetectedObjectVelocity":"{value}"}}'.encode() + LINE_END
