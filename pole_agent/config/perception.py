"""The kerb radar's model and the camera path."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from pole_agent.config.base import (
    StrictModel,
)
from pole_agent.perception.camera.calibration import GroundCalibration, GroundPoint


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
