"""The radars and the tracker that turns their frames into transits."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from pole_agent.config.base import (
    StrictModel,
)

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
        default=2.0,
        gt=0,
        le=60,
        description="Longest wait between attempts to reopen the port (an attempt on a missing "
        "device is one failed open(); 2 s keeps a replugged sensor back well within 5 s).",
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
