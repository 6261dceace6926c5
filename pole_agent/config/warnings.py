"""What the pole does to warn: the over-limit rule, the sign, the child warning."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from pole_agent.config.base import (
    StrictModel,
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
