"""The pole's configuration: pydantic models, loading, and errors that name the key.

The file format is TOML: Python reads it with the standard library (``tomllib``), it keeps
comments for the installer, and its types are explicit (no YAML surprises such as ``NO`` turning
into ``false`` or ``07:30`` into a number of minutes). Relative paths in the file are resolved
against the file's own folder, so an example config works wherever it is copied with its files.

Validators here do no I/O; ``preflight`` checks what needs the file system (referenced files exist
and secret files are private) and is run by ``config check`` and at start-up.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

POLE_ID_PATTERN = r"^[a-z0-9-]{1,64}$"

#: Keys that would hold a secret inline. The config names files that hold secrets instead, so
#: that the config itself can be shown, logged and sent without leaking them.
INLINE_SECRET_KEYS = frozenset({"password", "secret", "token", "key", "private_key"})


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists each one as "key.path: reason"."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                if key in INLINE_SECRET_KEYS:
                    raise ValueError(
                        f"'{key}' may not be written in the config; put the secret in a file "
                        f"readable only by the agent (mode 0600) and name it with '{key}_file'"
                    )
        return data


class ActiveWindow(StrictModel):
    """One daily window in which the school zone is active (local time of the zone)."""

    start: time = Field(description="Local time the zone becomes active, e.g. 07:00.")
    end: time = Field(
        description="Local time the zone stops being active, e.g. 21:00. An end before the start "
        "spans midnight; start equal to end means active all day."
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse_hhmm(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                hours, minutes = value.split(":")
                return time(int(hours), int(minutes))
            except ValueError:
                raise ValueError(f"expected HH:MM (24-hour clock), got {value!r}") from None
        return value

    @field_serializer("start", "end")
    def _as_hhmm(self, value: time) -> str:
        return value.strftime("%H:%M")


class ZoneConfig(StrictModel):
    """The school zone the pole guards."""

    speed_limit_kmh: float = Field(
        default=30.0, gt=0, le=130, description="Speed limit while the zone is active (km/h)."
    )
    off_hours_limit_kmh: float = Field(
        default=50.0,
        gt=0,
        le=130,
        description="Speed limit in force outside the active window (km/h); recorded in events, "
        "no warning is given against it.",
    )
    active: ActiveWindow = Field(
        default_factory=lambda: ActiveWindow(start=time(7, 0), end=time(21, 0)),
        description="The daily window in which the zone is active and the pole warns.",
    )
    timezone: str = Field(default="Asia/Seoul", description="IANA time zone of the zone.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a name such as "America" is a folder of the tz database, not a zone.
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


SAMPLE_RATES_HZ = (1000, 5000, 10000, 20000, 50000, 100000)


class RadarConfig(StrictModel):
    """The Doppler radar looking up the road (OPS243 class)."""

    port: str = Field(
        default="/dev/radar-road",
        min_length=1,
        description="Serial device; prefer the stable udev symlink that hw/udev ships.",
    )
    baud: Literal[9600, 19200, 57600, 115200, 230400] = Field(
        default=19200, description="Serial speed (USB CDC ignores it; a UART needs it to match)."
    )
    mounting_angle_deg: float = Field(
        default=0.0,
        ge=0,
        lt=80,
        description="Angle between the radar's axis and the lane; speeds are divided by its "
        "cosine.",
    )
    sample_rate_hz: int = Field(
        default=20000,
        description="Sampling rate set on the sensor; it fixes the maximum speed it can measure.",
    )
    reopen_max_s: float = Field(
        default=5.0, gt=0, le=60, description="Longest wait between attempts to reopen the port."
    )

    @field_validator("sample_rate_hz")
    @classmethod
    def _supported_rate(cls, value: int) -> int:
        if value not in SAMPLE_RATES_HZ:
            raise ValueError(f"must be one of {', '.join(map(str, SAMPLE_RATES_HZ))}")
        return value

    @property
    def max_speed_kmh(self) -> float:
        """The highest speed the sensor can report at its sampling rate (about 31 m/s at 10 kHz)."""
        return 31.1 * self.sample_rate_hz / 10000 * 3.6


class TrackingConfig(StrictModel):
    """How radar frames are grouped into one record per vehicle transit."""

    gap_s: float = Field(
        default=1.0, gt=0, le=10, description="A transit ends after this long with no frame."
    )
    min_samples: int = Field(
        default=3, ge=1, le=100, description="Fewer frames than this make noise, not a vehicle."
    )
    min_speed_kmh: float = Field(
        default=5.0, ge=0, le=50, description="Frames slower than this are ignored (pedestrians)."
    )


class WarningConfig(StrictModel):
    """When and how the beacons warn an approaching driver."""

    confirm_frames: int = Field(
        default=2,
        ge=2,
        le=10,
        description="Consecutive over-limit frames of one approaching vehicle needed to warn; at "
        "least 2, so one bad line never starts a warning.",
    )
    hold_s: float = Field(
        default=3.0, ge=0, le=60, description="Beacons keep flashing this long after the transit."
    )
    flash_hz: float = Field(default=1.0, gt=0.2, le=5, description="Beacon flash rate.")
    flash_duty: float = Field(
        default=0.5, gt=0.1, lt=1.0, description="Share of each flash cycle the beacons are lit."
    )


class OutputsConfig(StrictModel):
    """The warning outputs, described by a board profile from hw/boards."""

    board: str = Field(
        default="spole-rpi4-v1",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Board profile name: hw/boards/<board>.toml says which pin drives what.",
    )
    pin_factory: Literal["auto", "mock"] = Field(
        default="auto",
        description="'auto' uses the board's real pin library (lgpio); 'mock' uses gpiozero's "
        "mock pins (simulator and tests).",
    )


class TlsConfig(StrictModel):
    """TLS files for the broker connection."""

    ca_file: Path = Field(description="CA certificate that signed the broker's certificate.")
    cert_file: Path | None = Field(default=None, description="This pole's client certificate.")
    key_file: Path | None = Field(default=None, description="This pole's private key (0600).")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class MqttConfig(StrictModel):
    """The city's MQTT broker. Omit the section to run with no broker."""

    host: str = Field(min_length=1, description="Broker host name or address.")
    port: int = Field(default=8883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(
        default=None, description="MQTT user name; defaults to the pole id (the ACLs expect it)."
    )
    password_file: Path | None = Field(
        default=None, description="File holding this pole's MQTT password (mode 0600)."
    )
    tls: TlsConfig | None = Field(default=None, description="TLS settings; omit for plain TCP.")
    keepalive_s: int = Field(
        default=30, ge=2, le=600, description="MQTT keepalive; the Last Will fires after ~1.5x."
    )
    queue_max_messages: int = Field(
        default=10000,
        ge=10,
        le=1_000_000,
        description="Unsent messages kept in memory while the broker is away; oldest dropped "
        "first, and counted, beyond this.",
    )


class PoleConfig(StrictModel):
    """The whole configuration of one pole."""

    pole_id: str = Field(
        description="This pole's id: lower-case letters, digits and '-', at most 64; also its "
        "MQTT user name and topic prefix.",
    )
    state_dir: Path = Field(
        default=Path("/var/lib/pole-agent"), description="Where the agent keeps its state."
    )
    zone: ZoneConfig = Field(default_factory=ZoneConfig, description="The school zone.")
    radar: RadarConfig = Field(default_factory=RadarConfig, description="The road radar.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Transits.")
    warning: WarningConfig = Field(default_factory=WarningConfig, description="Beacon warnings.")
    outputs: OutputsConfig = Field(default_factory=OutputsConfig, description="GPIO outputs.")
    mqtt: MqttConfig | None = Field(default=None, description="Broker; omit to run offline.")

    @field_validator("pole_id")
    @classmethod
    def _pole_id_form(cls, value: str) -> str:
        if not re.fullmatch(POLE_ID_PATTERN, value):
            raise ValueError("must be 1 to 64 characters of lower-case letters a-z, digits and '-'")
        return value

    @property
    def mqtt_username(self) -> str | None:
        if self.mqtt is None:
            return None
        return self.mqtt.username or self.pole_id


def _format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def validation_problems(err: ValidationError) -> list[str]:
    """One line per error: the key path, the reason, and the offending value when short."""
    problems = []
    for item in err.errors():
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (not part of the configuration; check its spelling)"
        given = item.get("input")
        shown = ""
        if item["type"] != "missing" and isinstance(given, str | int | float | bool):
            text = repr(given)
            shown = f" (got {text})" if len(text) <= 60 and text not in message else ""
        problems.append(f"{_format_loc(loc)}: {message}{shown}")
    return problems


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Turn relative file paths of known path keys into absolute ones, relative to ``base``."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value):
            return str((base / value).resolve())
        return value

    out = dict(data)
    if "state_dir" in out:
        out["state_dir"] = fix(out["state_dir"])
    mqtt = out.get("mqtt")
    if isinstance(mqtt, dict):
        mqtt = dict(mqtt)
        if "password_file" in mqtt:
            mqtt["password_file"] = fix(mqtt["password_file"])
        tls = mqtt.get("tls")
        if isinstance(tls, dict):
            mqtt["tls"] = {k: fix(v) if k.endswith("_file") else v for k, v in tls.items()}
        out["mqtt"] = mqtt
    return out


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> PoleConfig:
    """Validate an already-parsed mapping; raise ConfigError naming every bad key."""
    try:
        return PoleConfig.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(source, validation_problems(err)) from None


def load_config(path: Path) -> PoleConfig:
    """Read and validate a TOML config file; raise ConfigError with every problem found."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(source, [f"cannot read the file: {err.strerror or err}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(source, [f"not UTF-8 text: {err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(source, [f"not valid TOML: {err}"]) from None
    return parse_config(_resolve_paths(data, path.parent.resolve()), source)


def summary(config: PoleConfig) -> list[str]:
    """A few human lines describing what the config sets up, for ``config check``."""
    zone = config.zone
    window = f"{zone.active.start:%H:%M}-{zone.active.end:%H:%M}"
    if zone.active.start == zone.active.end:
        window = "all day"
    broker = "none (runs offline)"
    if config.mqtt is not None:
        tls = "TLS" if config.mqtt.tls else "plain TCP"
        broker = f"{config.mqtt.host}:{config.mqtt.port} ({tls}, user {config.mqtt_username})"
    return [
        f"pole {config.pole_id}",
        f"zone limit {zone.speed_limit_kmh:g} km/h active {window} {zone.timezone}; "
        f"off-hours limit {zone.off_hours_limit_kmh:g} km/h",
        f"radar {config.radar.port} at {config.radar.baud} baud, mounting angle "
        f"{config.radar.mounting_angle_deg:g} deg, max {config.radar.max_speed_kmh:.0f} km/h",
        f"warn after {config.warning.confirm_frames} over-limit frames, hold "
        f"{config.warning.hold_s:g} s, flash {config.warning.flash_hz:g} Hz",
        f"outputs board {config.outputs.board} (pins: {config.outputs.pin_factory})",
        f"broker {broker}",
        f"state in {config.state_dir}",
    ]
