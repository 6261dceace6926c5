"""The pole's configuration: pydantic models, loading, and errors that name the key.

The file format is TOML: Python reads it with the standard library (``tomllib``), it keeps
comments for the installer, and its types are explicit (no YAML surprises such as ``NO`` turning
into ``false`` or ``07:30`` into a number of minutes). Relative paths in the file are resolved
against the file's own folder, so an example config works wherever it is copied with its files.

Validators here do no I/O; ``preflight`` checks what needs the file system (referenced files exist
and secret files are private) and is run by ``config check`` and at start-up.

The sections live in modules of their own (base, zone, sensors, warnings, perception, outputs,
network, site, pole); every public name is imported here, so ``from pole_agent.config import
...`` is the one way in.
"""

from __future__ import annotations

from pole_agent.config.base import (
    INLINE_SECRET_KEYS,
    POLE_ID_PATTERN,
    ConfigError,
    StrictModel,
)
from pole_agent.config.network import (
    MqttConfig,
    RemoteConfig,
    TelemetryConfig,
    TlsConfig,
)
from pole_agent.config.outputs import (
    AudioConfig,
    OutputsConfig,
)
from pole_agent.config.perception import (
    CameraCalibrationConfig,
    CameraConfig,
    CameraPoint,
    CameraRoadConfig,
    KerbModelConfig,
    KerbModelThresholds,
)
from pole_agent.config.pole import (
    PoleConfig,
    load_config,
    parse_config,
    summary,
    validation_problems,
)
from pole_agent.config.sensors import (
    SAMPLE_RATES_HZ,
    RadarConfig,
    RadarModel,
    RadarsConfig,
    TrackingConfig,
)
from pole_agent.config.site import (
    LANGUAGE_PATTERN,
    SiteConfig,
)
from pole_agent.config.warnings import (
    ChildWarningConfig,
    SignConfig,
    SignMessage,
    SignMessages,
    WarningConfig,
)
from pole_agent.config.zone import (
    WEEKDAYS,
    ActiveWindow,
    ScheduleWindow,
    Weekday,
    ZoneConfig,
)

__all__ = [
    "INLINE_SECRET_KEYS",
    "LANGUAGE_PATTERN",
    "POLE_ID_PATTERN",
    "SAMPLE_RATES_HZ",
    "WEEKDAYS",
    "ActiveWindow",
    "AudioConfig",
    "CameraCalibrationConfig",
    "CameraConfig",
    "CameraPoint",
    "CameraRoadConfig",
    "ChildWarningConfig",
    "ConfigError",
    "KerbModelConfig",
    "KerbModelThresholds",
    "MqttConfig",
    "OutputsConfig",
    "PoleConfig",
    "RadarConfig",
    "RadarModel",
    "RadarsConfig",
    "RemoteConfig",
    "ScheduleWindow",
    "SignConfig",
    "SignMessage",
    "SignMessages",
    "SiteConfig",
    "StrictModel",
    "TelemetryConfig",
    "TlsConfig",
    "TrackingConfig",
    "WarningConfig",
    "Weekday",
    "ZoneConfig",
    "load_config",
    "parse_config",
    "summary",
    "validation_problems",
]
