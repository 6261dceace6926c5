"""The whole pole's configuration, and loading it from a TOML file with errors that name the
key."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pole_agent.config.base import (
    POLE_ID_PATTERN,
    ConfigError,
    StrictModel,
)
from pole_agent.config.network import (
    MqttConfig,
    RemoteConfig,
    TelemetryConfig,
)
from pole_agent.config.outputs import (
    AudioConfig,
    OutputsConfig,
)
from pole_agent.config.perception import (
    CameraConfig,
    KerbModelConfig,
)
from pole_agent.config.sensors import (
    RadarConfig,
    RadarsConfig,
    TrackingConfig,
)
from pole_agent.config.site import (
    SiteConfig,
)
from pole_agent.config.warnings import (
    ChildWarningConfig,
    SignConfig,
    WarningConfig,
)
from pole_agent.config.zone import (
    ZoneConfig,
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
    site: SiteConfig = Field(
        default_factory=SiteConfig, description="Where the pole stands; the voice's languages."
    )
    radars: RadarsConfig = Field(
        description="The radars by role: [radars.road] (required) and [radars.kerb] (optional)."
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Transits.")
    warning: WarningConfig = Field(default_factory=WarningConfig, description="Beacon warnings.")
    outputs: OutputsConfig = Field(default_factory=OutputsConfig, description="GPIO outputs.")
    sign: SignConfig = Field(default_factory=SignConfig, description="The LED sign.")
    child_warning: ChildWarningConfig = Field(
        default_factory=ChildWarningConfig, description="Child warnings."
    )
    audio: AudioConfig = Field(default_factory=AudioConfig, description="The speaker.")
    kerb_model: KerbModelConfig = Field(
        default_factory=KerbModelConfig, description="The kerb radar's model."
    )
    camera: CameraConfig | None = Field(
        default=None, description="A camera; omit the section on a pole without one."
    )
    mqtt: MqttConfig | None = Field(default=None, description="Broker; omit to run offline.")
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig, description="Stats, health, discovery and the spool."
    )
    remote: RemoteConfig = Field(
        default_factory=RemoteConfig, description="Remote config and commands from the city."
    )
    config_version: int = Field(
        default=0,
        ge=0,
        description="Version of this configuration, reported in the pole's birth message; "
        "raise it with every change.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_legacy_radar(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "radar" in data:
            raise ValueError(
                "[radar] was replaced by [radars.road] (and an optional [radars.kerb]): move its "
                "keys there"
            )
        return data

    @field_validator("pole_id")
    @classmethod
    def _pole_id_form(cls, value: str) -> str:
        if not re.fullmatch(POLE_ID_PATTERN, value):
            raise ValueError("must be 1 to 64 characters of lower-case letters a-z, digits and '-'")
        return value

    def radar_roles(self) -> list[tuple[str, RadarConfig]]:
        """The configured radars as (role, config), the road radar first."""
        roles = [("road", self.radars.road)]
        if self.radars.kerb is not None:
            roles.append(("kerb", self.radars.kerb))
        return roles

    def with_radar_port(self, port: str, role: str = "road") -> PoleConfig:
        """A copy with one radar's port replaced (the simulator and tests use an emulator's pty)."""
        radar = getattr(self.radars, role)
        if radar is None:
            raise ValueError(f"no {role} radar configured")
        radars = self.radars.model_copy(update={role: radar.model_copy(update={"port": port})})
        return self.model_copy(update={"radars": radars})

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
    for section, key in (("zone", "calendar_file"), ("audio", "clips_dir"), ("kerb_model", "path")):
        table = out.get(section)
        if isinstance(table, dict) and key in table:
            out[section] = {**table, key: fix(table[key])}
    camera = out.get("camera")
    if isinstance(camera, dict):
        out["camera"] = {
            k: fix(v) if k in ("model_path", "label_map") else v for k, v in camera.items()
        }
    telemetry = out.get("telemetry")
    if isinstance(telemetry, dict) and "spool_path" in telemetry:
        out["telemetry"] = {**telemetry, "spool_path": fix(telemetry["spool_path"])}
    remote = out.get("remote")
    if isinstance(remote, dict) and "fleet_public_key_file" in remote:
        out["remote"] = {**remote, "fleet_public_key_file": fix(remote["fleet_public_key_file"])}
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
        "radar "
        + "; ".join(
            f"{role} {radar.model} {radar.port} at {radar.baud} baud, mounting angle "
            f"{radar.mounting_angle_deg:g} deg, max {radar.max_speed_kmh:.0f} km/h"
            for role, radar in config.radar_roles()
        ),
        f"warn after {config.warning.confirm_frames} over-limit frames, hold "
        f"{config.warning.hold_s:g} s, flash {config.warning.flash_hz:g} Hz",
        f"outputs board {config.outputs.board} (pins: {config.outputs.pin_factory})",
        f"broker {broker}",
        f"state in {config.state_dir}",
    ]
