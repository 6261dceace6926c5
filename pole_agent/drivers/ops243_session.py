"""The start-up dialogue with an OPS243: the commands built from config, the echo each one
expects, and the identity and settings read back to verify they took. Pure: the serial driver
does the I/O and feeds the answers in.

Each command is answered by one JSON line whose first key says what it set (the echo). A command
the firmware does not know is answered with an ``error`` object (or nothing): it is recorded as a
problem, not fatal, and the pole keeps measuring with what did take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pole_agent.config import RadarConfig

RATE_COMMANDS = {1000: "SI", 5000: "SV", 10000: "SX", 20000: "S2", 50000: "SL", 100000: "SC"}
KMH_UNITS = "km-per-hr"


@dataclass(frozen=True, slots=True)
class Command:
    """One start-up command and the keys its echo may start with."""

    text: str
    echo_keys: frozenset[str]
    why: str

    @property
    def wire(self) -> bytes:
        """The bytes to send: numeric commands end with a carriage return."""
        return (self.text + ("\r" if "=" in self.text or ">" in self.text else "")).encode()


def _c(text: str, why: str, *keys: str) -> Command:
    return Command(text, frozenset(keys), why)


def startup_commands(config: RadarConfig, epoch_s: int) -> list[Command]:
    """The sequence sent after every open (docs/radar.md explains each one)."""
    commands = [
        _c("UK", "speeds in km/h", "Units"),
        _c("OJ", "JSON reports", "OutputFeature"),
        _c(RATE_COMMANDS[config.sample_rate_hz], "sampling rate", "SamplingRate"),
        _c("R|", "both directions (direction is decided in software)", "RequiredDirection"),
        _c(f"R>{config.min_speed_kmh:g}", "speed filter", "RequiredMinSpeed"),
        _c("OM", "magnitude in each report", "OutputFeature"),
        _c(f"O{config.reports_per_frame}", "targets per frame", "OutputNumber"),
        _c("BZ", "a zero report on empty frames, so silence means a fault", "BlankReporting"),
    ]
    if config.min_magnitude > 0:
        commands.append(_c(f"M>{config.min_magnitude:g}", "magnitude filter", "SquelchMin"))
    if config.has_range:
        commands.append(_c("OD", "range reports (OPS243-C)", "OutputFeature"))
    if config.spectrum != "off":
        command = "OF" if config.spectrum == "full" else "OB"
        commands.append(_c(command, f"{config.spectrum} spectrum lines", "OutputFeature"))
    commands.append(_c(f"C={epoch_s}", "sensor clock", "Clock"))
    if config.save_to_flash:
        # Last, after every setting: the verify queries that follow re-read what was saved.
        commands.append(SAVE_TO_FLASH)
    return commands


SAVE_TO_FLASH = _c("A!", "save the settings to flash", "Flash")
"""Answered ``{"Flash":"SettingsSaved"}`` (or an ``error``); only when ``save_to_flash``."""


VERIFY_QUERIES = (
    _c("??", "module information", "Product"),
    _c("?P", "part number", "Product"),
    _c("?V", "firmware version", "Version"),
    _c("?U", "board id", "UID"),
)
#: The last line of the ``??`` answer: the query is answered once it arrives.
MODULE_INFO_LAST_KEY = "RequiredMinSpeed"


@dataclass(frozen=True, slots=True)
class RadarIdentity:
    """Who the sensor says it is, for the pole's birth message."""

    model: str
    """The configured model (OPS243-A or OPS243-C)."""
    product: str | None
    version: str | None
    uid: str | None
    sampling_rate_hz: int | None
    resolution: float | None
    """Width of one FFT bin as the sensor reports it (m/s at the factory units)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "product": self.product,
            "version": self.version,
            "uid": self.uid,
            "sampling_rate_hz": self.sampling_rate_hz,
            "resolution": self.resolution,
        }


def _text(value: object) -> str | None:
    return value[:80] if isinstance(value, str) else None


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class SessionAnswers:
    """What the sensor answered during one start-up: echoes and query fields."""

    fields: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def take(self, fields: dict[str, object]) -> None:
        """Record an answer line (later answers of the same key win)."""
        for key, value in fields.items():
            if key == "Product" and isinstance(value, str) and "Product" in self.fields:
                # ?? says "OPS243", ?P the fuller part name: keep the longer one.
                previous = self.fields["Product"]
                if isinstance(previous, str) and len(previous) >= len(value):
                    continue
            self.fields[key] = value

    def identity(self, config: RadarConfig) -> RadarIdentity:
        rate = _num(self.fields.get("SamplingRate"))
        return RadarIdentity(
            model=config.model,
            product=_text(self.fields.get("Product")),
            version=_text(self.fields.get("Version")),
            uid=_text(self.fields.get("UID")),
            sampling_rate_hz=int(rate) if rate is not None else None,
            resolution=_num(self.fields.get("resolution")),
        )

    def verify(self, config: RadarConfig) -> list[str]:
        """Every setting that did not take, as a short sentence (empty when all did)."""
        problems = list(self.problems)
        units = self.fields.get("Units")
        if units != KMH_UNITS:
            problems.append(f"units are {units!r}, not {KMH_UNITS!r}")
        rate = _num(self.fields.get("SamplingRate"))
        if rate != config.sample_rate_hz:
            problems.append(f"sampling rate is {rate!r}, not {config.sample_rate_hz}")
        min_speed = _num(self.fields.get("RequiredMinSpeed"))
        if min_speed is None or abs(min_speed - config.min_speed_kmh) > 0.01:
            problems.append(f"speed filter is {min_speed!r}, not {config.min_speed_kmh:g}")
        product = self.fields.get("Product")
        if not isinstance(product, str):
            problems.append("no product name")
        elif config.has_range and not ("-C" in product or "FMCW" in product):
            problems.append(f"configured as OPS243-C but the sensor is {product!r} (no range)")
        if config.spectrum != "off":
            # The spectrum command is the last O toggle sent: its echo is the last OutputFeature.
            wanted = "F" if config.spectrum == "full" else "B"
            feature = self.fields.get("OutputFeature")
            if feature != wanted:
                problems.append(f"spectrum output is {feature!r}, not {wanted!r}")
        if not isinstance(self.fields.get("UID"), str):
            problems.append("no board id")
        return problems
