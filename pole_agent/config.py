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

from pole_agent.perception.camera.calibration import GroundCalibration, GroundPoint

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


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleWindow(ActiveWindow):
    """A weekly period in which the zone is active, with its own limit (first match wins)."""

    limit_kmh: float = Field(gt=0, le=130, description="Speed limit in this window (km/h).")
    days: Literal["school", "non_school", "any"] = Field(
        default="any",
        description="Which days: 'school' (school weekdays not off in the calendar, plus its "
        "extra school days), 'non_school' (the others) or 'any'. A window spanning midnight "
        "belongs to the day it starts.",
    )
    weekdays: tuple[Weekday, ...] = Field(
        default=WEEKDAYS, min_length=1, description="Days of the week the window applies to."
    )
    name: str = Field(default="", max_length=40, description="Name shown in records.")


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
    school_weekdays: tuple[Weekday, ...] = Field(
        default=("mon", "tue", "wed", "thu", "fri"),
        description="Weekdays that are school days unless the calendar says otherwise.",
    )
    windows: tuple[ScheduleWindow, ...] = Field(
        default=(),
        description="Time-of-day and day-of-week limits, first match wins (docs/warnings.md); "
        "outside them off_hours_limit_kmh applies. Empty: the zone is active in 'active' every "
        "day at speed_limit_kmh.",
    )
    calendar_file: Path | None = Field(
        default=None,
        description="School calendar (TOML: holidays, vacations, extra school days; "
        "docs/warnings.md). Without one every school weekday is a school day.",
    )

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

RadarModel = Literal["OPS243-A", "OPS243-C"]

#: The OPS243's carrier (24.125 GHz) and FFT size: they fix the speed a sampling rate can
#: measure (half the band, before aliasing) and the width of one FFT bin.
_WAVELENGTH_M = 299_792_458.0 / 24.125e9
_FFT_SIZE = 1024


class RadarConfig(StrictModel):
    """One OPS243-class radar: the OPS243-A (Doppler: speed and direction) or the OPS243-C
    (Doppler plus FMCW range: how far the target is)."""

    model: RadarModel = Field(
        default="OPS243-A",
        description="'OPS243-A' reports speed only; 'OPS243-C' adds range, so the agent knows "
        "how far an approaching vehicle is and its time to arrival.",
    )
    port: str = Field(
        default="/dev/radar-road",
        min_length=1,
        description="Serial device; prefer the stable udev symlink that hw/udev ships "
        "(/dev/radar-road, /dev/radar-kerb).",
    )
    baud: Literal[9600, 19200, 57600, 115200, 230400] = Field(
        default=19200, description="Serial speed (USB CDC ignores it; a UART needs it to match)."
    )
    mounting_angle_deg: float = Field(
        default=0.0,
        ge=0,
        lt=80,
        description="Angle between the radar's axis and the lane; speeds are divided by its "
        "cosine (docs/radar.md, geometry).",
    )
    lateral_offset_m: float | None = Field(
        default=None,
        ge=0,
        le=30,
        description="Distance from the radar to the lane's centre line, across the road (m). "
        "With range (OPS243-C) it replaces the fixed angle by the true angle at each range; "
        "omit it to use the mounting angle alone.",
    )
    sample_rate_hz: int = Field(
        default=20000,
        description="Sampling rate set on the sensor; it fixes the maximum speed it can measure.",
    )
    min_speed_kmh: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Speed filter set on the sensor (R>): slower targets are not reported. 0 "
        "reports everything.",
    )
    min_magnitude: float = Field(
        default=0.0,
        ge=0,
        le=10000,
        description="Magnitude filter (squelch) set on the sensor (M>): weaker returns are not "
        "reported. 0 leaves the sensor's own.",
    )
    reports_per_frame: int = Field(
        default=1,
        ge=1,
        le=9,
        description="Targets reported per frame (On): 1 is the strongest only; more lets the "
        "tracker follow several vehicles at once.",
    )
    spectrum: Literal["off", "full", "band"] = Field(
        default="off",
        description="Spectrum output for the kerb radar model (docs/radar_model.md), set at "
        "start-up: 'full' sends every FFT bin (OF, F lines; needs USB, about 27 kB/s), 'band' the "
        "bins around 0 Hz and the strongest lines (OB, B lines; fits a UART at 230400 baud), "
        "'off' sends no spectrum command (the road radar's default). A kerb radar with the model "
        "enabled needs 'full' or 'band'.",
    )
    stale_after_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="A sensor that sends nothing for this long is stale (failed): it reports "
        "every frame, zeros included, so silence is a fault.",
    )
    stuck_after_s: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="A sensor that repeats one non-zero report, unchanged in every field, for "
        "this long is stuck (failed).",
    )
    reopen_max_s: float = Field(
        default=5.0, gt=0, le=60, description="Longest wait between attempts to reopen the port."
    )
    echo_timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="How long to wait for the sensor's JSON echo of each start-up command.",
    )
    save_to_flash: bool = Field(
        default=False,
        description="Also save the settings in the sensor's flash (A!) after applying them, so a "
        "power cycle keeps them. `pole-agent commission` does it once; leave it off for the "
        "agent, which applies the settings at every start (flash wears with each write).",
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

    @property
    def resolution_kmh(self) -> float:
        """Width of one FFT bin: the finest speed step the sensor reports (0.22 km/h at 10 kHz)."""
        return self.sample_rate_hz * _WAVELENGTH_M / (2 * _FFT_SIZE) * 3.6

    @property
    def has_range(self) -> bool:
        return self.model == "OPS243-C"


class RadarsConfig(StrictModel):
    """The pole's radars, by role. Only the road radar feeds vehicle transits and warnings."""

    road: RadarConfig = Field(
        description="The radar looking up the road at approaching and receding vehicles (required)."
    )
    kerb: RadarConfig | None = Field(
        default=None,
        description="Optional radar looking at the kerb and crosswalk (pedestrians); its frames "
        "are counted and offered to pedestrian perception, never to vehicle warnings.",
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> RadarsConfig:
        if self.kerb is not None and self.kerb.port == self.road.port:
            raise ValueError(f"road and kerb radars use the same port {self.road.port!r}")
        return self


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
    speed_jump_kmh: float = Field(
        default=10.0,
        gt=0,
        le=100,
        description="A frame whose speed differs from a transit's recent speeds by more than "
        "this (plus what a vehicle can accelerate in the time between) belongs to another "
        "vehicle: two vehicles close together stay two transits.",
    )
    range_jump_m: float = Field(
        default=6.0,
        gt=0,
        le=100,
        description="With range (OPS243-C): a frame further than this from where a transit's "
        "vehicle should be now belongs to another vehicle.",
    )


class WarningConfig(StrictModel):
    """When and how the beacons warn an approaching driver, and the fail-safe mode."""

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
    startup_grace_s: float = Field(
        default=5.0,
        ge=0,
        le=120,
        description="After start, a sensor that has not reported yet is not counted as failed "
        "for this long.",
    )
    fail_safe_recovery_s: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="A sensor must stay healthy this long before the pole leaves fail-safe.",
    )
    heartbeat_hz: float = Field(
        default=2.0,
        gt=0.1,
        le=50,
        description="Toggle rate of the heartbeat pin that feeds the external watchdog relay; "
        "it stops when the agent is not healthy and the pole's own flasher takes over.",
    )


SignMessage = Literal["slow_down", "child_crossing", "school_zone"]


class SignMessages(StrictModel):
    """The preset messages of the sign, as the sign controller shows them."""

    slow_down: str = Field(
        default="SLOW DOWN / 어린이 보호구역 서행", max_length=80, description="Over the limit."
    )
    child_crossing: str = Field(
        default="CHILD CROSSING / 어린이 횡단중",
        max_length=80,
        description="A child at the kerb with a vehicle coming.",
    )
    school_zone: str = Field(
        default="SCHOOL ZONE / 어린이 보호구역",
        max_length=80,
        description="Fail-safe: no sensor, school hours.",
    )


class SignConfig(StrictModel):
    """The LED sign: the "your speed" display and the preset messages."""

    show_speed: bool = Field(default=True, description="Show approaching vehicles' speeds.")
    show_speed_off_hours: bool = Field(
        default=False, description="Also show speeds while the zone is not active."
    )
    min_display_kmh: float = Field(
        default=10.0, ge=0, le=100, description="Slower vehicles are not shown."
    )
    max_display_kmh: float = Field(
        default=80.0,
        gt=0,
        le=250,
        description="A vehicle faster than this blanks the display for the rest of its pass "
        "(no racing the sign).",
    )
    blank_after_s: float = Field(
        default=2.0, ge=0, le=30, description="The display blanks this long after the vehicle."
    )
    update_s: float = Field(
        default=0.5,
        ge=0,
        le=5,
        description="Steady digits: the shown speed changes at most this often.",
    )
    fail_safe_message: SignMessage | None = Field(
        default="school_zone",
        description="Message shown in fail-safe during school hours (none: blank).",
    )
    messages: SignMessages = Field(
        default_factory=SignMessages, description="Texts of the preset messages."
    )


class ChildWarningConfig(StrictModel):
    """Warning a child at the kerb (spoken) and the driver (sign) when a vehicle is coming."""

    enabled: bool = Field(default=True, description="Give child warnings at all.")
    who: Literal["child", "any_pedestrian"] = Field(
        default="child", description="Who at the kerb or crosswalk triggers the warning."
    )
    when: Literal["always", "zone_active"] = Field(
        default="always",
        description="'always' (at night at the quiet volume) or only while the zone is active.",
    )
    arrival_threshold_s: float = Field(
        default=4.0,
        gt=0,
        le=30,
        description="Warn when a vehicle will arrive within this many seconds.",
    )
    unknown_arrival_min_speed_kmh: float = Field(
        default=20.0,
        ge=0,
        le=130,
        description="When a vehicle's arrival time is unknown (no range), warn for any "
        "approaching vehicle faster than this.",
    )
    pedestrian_ttl_s: float = Field(
        default=1.5, gt=0, le=30, description="A pedestrian detection counts this long."
    )
    vehicle_ttl_s: float = Field(
        default=1.0, gt=0, le=30, description="A vehicle report counts this long."
    )
    cooldown_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="The spoken message is not repeated within this many seconds.",
    )
    hold_s: float = Field(
        default=3.0, ge=0, le=60, description="CHILD CROSSING stays this long after the danger."
    )
    message: tuple[str, ...] = Field(
        default=("chime", "car_coming_ko", "car_coming_en"),
        min_length=1,
        description="Clips played in order (names from pole_agent/audio/clips/manifest.json).",
    )


class KerbModelThresholds(StrictModel):
    """Probability at or above which the kerb radar model says a label is present; omit one to
    use the value in the model's metadata (chosen on validation data)."""

    child: float | None = Field(default=None, gt=0, lt=1, description="Child threshold.")
    adult: float | None = Field(default=None, gt=0, lt=1, description="Adult threshold.")
    vehicle: float | None = Field(default=None, gt=0, lt=1, description="Vehicle threshold.")
    cyclist_scooter: float | None = Field(
        default=None, gt=0, lt=1, description="Cyclist or e-scooter threshold."
    )


class KerbModelConfig(StrictModel):
    """The kerb radar's TFLite model (docs/radar_model.md): children, adults, vehicles and riders
    from the radar's spectrum. Used only with a kerb radar whose spectrum output is on."""

    enabled: bool = Field(
        default=True, description="Run the model on the kerb radar's spectra (with a kerb radar)."
    )
    path: Path | None = Field(
        default=None,
        description="The .tflite file (its metadata beside it, same name, .json); default: the "
        "model shipped with the agent.",
    )
    thresholds: KerbModelThresholds = Field(
        default_factory=KerbModelThresholds, description="Per-label presence thresholds."
    )
    confirm_windows: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Consecutive windows a label must be present in before it is reported to "
        "the warnings (one odd window never warns).",
    )
    queue_windows: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Windows waiting for the model; when inference falls behind, the oldest is "
        "dropped and counted.",
    )
    unsure_person_as: Literal["child", "unknown"] = Field(
        default="child",
        description="How a person the model cannot tell from an adult (most people, on "
        "simulated data: docs/radar_model.md) is reported to the warning rules: 'child' (the "
        "safe side: child warnings for them too) or 'unknown' (child warnings only for a "
        "confident child verdict, unless child_warning.who = 'any_pedestrian'). Telemetry "
        "always says what the model knew (events/pedestrian child = null).",
    )


class CameraPoint(StrictModel):
    """One calibration point: a spot on the road, in the image and on the road."""

    image: tuple[float, float] = Field(
        description="[column, row]: pixels from the top left of the commissioning image."
    )
    road: tuple[float, float] = Field(
        description="[x, y]: metres in the pole's road frame (x along the road towards "
        "approaching traffic, origin at the pole; docs/camera.md)."
    )


class CameraCalibrationConfig(StrictModel):
    """The ground-plane calibration taken at commissioning (docs/camera.md, "Calibration")."""

    image_size: tuple[int, int] = Field(
        description="[width, height] of the image the points were marked on; frames of another "
        "size with the same aspect ratio are scaled to it."
    )
    points: tuple[CameraPoint, ...] = Field(
        min_length=4,
        max_length=64,
        description="Four or more road points, no three in a line; with six or more, a point "
        "that disagrees with the others is named.",
    )
    focal_px: float | None = Field(
        default=None,
        gt=0,
        le=100000,
        description="The lens's focal length in pixels of image_size, if known; omitted, it is "
        "recovered from the points (square pixels, principal point at the centre).",
    )

    @model_validator(mode="after")
    def _solvable(self) -> CameraCalibrationConfig:
        self.ground()  # computation only: raises ValueError naming the problem
        return self

    def ground(self) -> GroundCalibration:
        """The calibration these points make (raises CalibrationError, a ValueError)."""
        return GroundCalibration(
            [GroundPoint(p.image, p.road) for p in self.points],
            self.image_size,
            focal_px=self.focal_px,
        )


class CameraRoadConfig(StrictModel):
    """Where the kerbs and the crossing are, in the calibration's road frame (metres)."""

    kerb_y_m: float = Field(
        default=-0.5, ge=-100, le=100, description="y of the kerb on the pole's side."
    )
    far_kerb_y_m: float = Field(
        default=-7.5, ge=-100, le=100, description="y of the kerb across the road."
    )
    kerb_band_m: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="A person on the footway this close to either kerb is 'at the kerb'.",
    )
    crossing_x_m: float = Field(
        default=6.0, ge=-200, le=200, description="x of the crosswalk's centre line."
    )
    watch_length_m: float = Field(
        default=15.0,
        gt=0,
        le=200,
        description="People further than this along the road from the crossing are not reported.",
    )

    @model_validator(mode="after")
    def _two_kerbs(self) -> CameraRoadConfig:
        if self.kerb_y_m == self.far_kerb_y_m:
            raise ValueError("kerb_y_m and far_kerb_y_m must differ (the carriageway between)")
        return self


class CameraConfig(StrictModel):
    """A camera on the pole: people and vehicles from frames held in memory only (docs/camera.md).

    People with the shipped person detector, vehicles too with an SSD model; no image of a
    person is stored or sent."""

    enabled: bool = Field(default=True, description="Run the camera path.")
    source: str = Field(
        min_length=1,
        max_length=500,
        description="A device index ('0' for /dev/video0), a stream URL (rtsp://, http://) or a "
        "video file path.",
    )
    fps: float = Field(default=10.0, gt=0, le=60, description="Frames taken per second.")
    max_width: int = Field(
        default=640,
        ge=160,
        le=4096,
        description="Wider frames are scaled down to this width (aspect kept) as they are read.",
    )
    loop: bool = Field(
        default=False, description="Start a video file again at its end (simulator, demos)."
    )
    detector: Literal["pose", "ssd"] = Field(
        default="pose",
        description="'pose': the shipped person detector (people only); 'ssd': a TFLite SSD "
        "model with post-processed outputs (people and vehicles), with model_path and label_map.",
    )
    model_path: Path | None = Field(
        default=None,
        description="The .tflite file; default for 'pose': the shipped "
        "pole_agent/models/pose_detection.tflite.",
    )
    label_map: Path | None = Field(
        default=None, description="The SSD model's label map (one label per line, or 'id label')."
    )
    min_score: float = Field(
        default=0.5, gt=0, lt=1, description="Detections scoring less are ignored."
    )
    threads: int = Field(default=1, ge=1, le=8, description="Threads the model may use.")
    inference_budget_ms: float = Field(
        default=250.0,
        gt=0,
        le=10000,
        description="When the median inference time of recent frames is over this, the camera "
        "is degraded (detections go on, later).",
    )
    stale_after_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="A camera that delivers no frame for this long has failed.",
    )
    reopen_max_s: float = Field(
        default=5.0, gt=0, le=300, description="Longest wait between attempts to reopen it."
    )
    min_hits: int = Field(
        default=2,
        ge=1,
        le=30,
        description="Frames a person or vehicle must be seen in before it is reported.",
    )
    track_gap_s: float = Field(
        default=1.0, gt=0, le=30, description="A track not seen for this long is closed."
    )
    child_max_height_m: float = Field(
        default=1.45, gt=0.5, le=2.0, description="People this tall or shorter are children."
    )
    adult_min_height_m: float = Field(
        default=1.55,
        gt=0.5,
        le=2.5,
        description="People this tall or taller are adults; between the two: unknown.",
    )
    calibration: CameraCalibrationConfig = Field(description="The ground-plane calibration.")
    road: CameraRoadConfig = Field(
        default_factory=CameraRoadConfig, description="Kerbs and crossing on the road."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CameraConfig:
        if self.detector == "ssd" and (self.model_path is None or self.label_map is None):
            raise ValueError("detector 'ssd' needs model_path and label_map")
        if self.child_max_height_m > self.adult_min_height_m:
            raise ValueError("child_max_height_m must not exceed adult_min_height_m")
        return self


class AudioConfig(StrictModel):
    """The speaker: clips played through ALSA, the amplifier enable line, the volume."""

    player: Literal["aplay", "record", "off"] = Field(
        default="aplay",
        description="'aplay' plays through ALSA; 'record' only records what would have played "
        "(simulator, tests); 'off' plays nothing.",
    )
    device: str = Field(
        default="default", min_length=1, max_length=80, description="ALSA device for aplay."
    )
    volume: float = Field(default=0.8, ge=0, le=1, description="Volume by day (0..1).")
    quiet_volume: float = Field(
        default=0.3, ge=0, le=1, description="Volume in the quiet hours (0 is silent)."
    )
    quiet_hours: ActiveWindow = Field(
        default_factory=lambda: ActiveWindow(start=time(21, 0), end=time(7, 0)),
        description="Local hours at the quiet volume.",
    )
    amp_warmup_s: float = Field(
        default=0.1, ge=0, le=2, description="Amplifier enabled this long before a clip."
    )
    clips_dir: Path | None = Field(
        default=None, description="Folder of clips and manifest.json; default: the shipped ones."
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
        description="Messages kept in memory while the on-disk spool cannot be written (disk "
        "full, spool unusable); beyond this, routine ones are dropped oldest first and counted.",
    )
    reconnect_min_s: float = Field(
        default=1.0, gt=0, le=60, description="First wait before reconnecting to a lost broker."
    )
    reconnect_max_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="Longest wait between reconnect attempts; waits double from reconnect_min_s "
        "up to this, each with random jitter so a fleet does not reconnect in step.",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be less than reconnect_min_s")
        return self


class RemoteConfig(StrictModel):
    """Remote management from the city: desired config and commands over MQTT (docs/remote.md)."""

    enabled: bool = Field(
        default=False,
        description="Subscribe to this pole's config/desired and cmd/+ topics and act on them "
        "(needs [mqtt]).",
    )
    fleet_public_key_file: Path | None = Field(
        default=None,
        description="The fleet's Ed25519 public key (PEM); when set, config and commands must "
        "carry a valid signature and unsigned ones are rejected.",
    )
    grace_s: float = Field(
        default=120.0,
        gt=0,
        le=86400,
        description="A new remote config under which a component fails (one that was not "
        "failed before the change) within this time is rolled back to the last-known-good one.",
    )
    max_command_ttl_s: float = Field(
        default=86400.0,
        gt=0,
        le=30 * 86400,
        description="Commands expiring further ahead than this are refused (their ids are "
        "remembered until they expire, to refuse replays).",
    )
    trial_unclean_ends: int = Field(
        default=2,
        ge=1,
        le=10,
        description="A remote config still in its grace period is rolled back to the "
        "last-known-good one, before the agent starts, once this many runs of it ended "
        "uncleanly (killed, crashed) before the grace period was over (read from the local file).",
    )
    message_max_chars: int = Field(
        default=48,
        ge=1,
        le=200,
        description="Longest operator text the set_message command may put on the sign (what "
        "the sign controller can show).",
    )
    message_max_s: float = Field(
        default=86400.0,
        gt=0,
        le=7 * 86400,
        description="Longest duration of an operator text on the sign (set_message duration_s).",
    )
    comms_loss_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="When the broker has been unreachable this long, the operator text is "
        "removed from the sign and the sign follows the local rules only (no stale remote "
        "message).",
    )


class TelemetryConfig(StrictModel):
    """Statistics, health, discovery, and the on-disk spool that keeps every message until the
    broker has acknowledged it (docs/mqtt.md)."""

    spool_path: Path | None = Field(
        default=None,
        description="The spool's SQLite file; default <state_dir>/telemetry-spool.sqlite3.",
    )
    spool_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=16 * 1024,
        le=16 * 1024**3,
        description="Payload bytes the spool may hold; past it, routine messages (vehicle "
        "events, stats, health) are dropped oldest first and counted; warnings and faults are "
        "kept.",
    )
    spool_max_age_s: float = Field(
        default=7 * 86400.0,
        ge=60,
        le=366 * 86400.0,
        description="Routine messages older than this are dropped from the spool and counted; "
        "warnings and faults are kept.",
    )
    spool_batch_s: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="Routine messages are written to disk together at most this often, to spare "
        "the SD card; warnings and faults are written at once.",
    )
    stats_interval_s: int = Field(
        default=900,
        ge=10,
        le=86400,
        description="Length of a statistics window (s); windows are aligned to the wall clock "
        "and also end when the zone's activity or limit changes.",
    )
    health_interval_s: float = Field(
        default=60.0, ge=1, le=3600, description="How often the health report is published (s)."
    )
    discovery: bool = Field(
        default=True,
        description="Publish Home Assistant MQTT discovery configs (retained) on every connect.",
    )
    discovery_prefix: str = Field(
        default="homeassistant",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Home Assistant's discovery topic prefix.",
    )


LANGUAGE_PATTERN = r"^[a-z]{2,3}$"


class SiteConfig(StrictModel):
    """Where the pole stands and whom it speaks to: set by `pole-agent commission`, reported to
    the city in the commissioning report. The agent does not use the place or the position."""

    place: str = Field(
        default="",
        max_length=120,
        description="A place name people recognise (street, school gate, landmark).",
    )
    latitude: float | None = Field(
        default=None, ge=-90, le=90, description="WGS84 latitude in degrees (north positive)."
    )
    longitude: float | None = Field(
        default=None, ge=-180, le=180, description="WGS84 longitude in degrees (east positive)."
    )
    voice_languages: tuple[str, ...] = Field(
        default=("ko", "en"),
        min_length=1,
        max_length=4,
        description="Languages of the spoken child warning, in the order played (ISO 639 codes "
        "such as 'ko', 'en'). The agent plays child_warning.message; commissioning sets that "
        "list from these languages (the clips of each language in the manifest).",
    )

    @field_validator("voice_languages")
    @classmethod
    def _language_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(LANGUAGE_PATTERN, code):
                raise ValueError(f"{code!r} is not a language code (2-3 lower-case letters)")
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        return value

    @model_validator(mode="after")
    def _both_coordinates(self) -> SiteConfig:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


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
