"""Step 4 of `pole-agent commission`: the camera, when one is fitted.

A snapshot of the empty road (``take_road_snapshot``: refused, and nothing written, while a
person is in view) is saved for the report, then the ground-plane points are shown and either
confirmed or entered again (column, row in the snapshot's pixels; x, y in metres on the road,
docs/camera.md). New points are checked by solving the calibration before they are accepted,
and written into ``[camera.calibration]`` with the snapshot's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pole_agent.config import CameraCalibrationConfig, PoleConfig
from pole_agent.drivers.camera import CameraUnavailable, encode_png, grab_frame
from pole_agent.installer.prompts import PointAnswer, Prompter
from pole_agent.installer.report import CheckResult
from pole_agent.perception.camera.detection import Detector, DetectorError, Frame
from pole_agent.perception.camera.detectors import build_detector
from pole_agent.perception.camera.snapshot import PersonInView, snapshot_path, take_road_snapshot


@dataclass
class CameraOutcome:
    """What the step leaves for the config and the report."""

    snapshot: Path | None = None
    image_size: tuple[int, int] | None = None
    points: list[PointAnswer] = field(default_factory=list)
    """The points in force after the step (confirmed or new)."""
    calibration: dict[str, Any] | None = None
    """A new ``[camera.calibration]`` table for the config, when the points changed."""


def _skip(detail: str) -> tuple[list[CheckResult], CameraOutcome]:
    return [CheckResult(name="camera", outcome="skip", detail=detail)], CameraOutcome()


def camera_step(
    config: PoleConfig,
    ask: Prompter,
    *,
    detector: Detector | None = None,
    grab: Callable[[], Frame] | None = None,
) -> tuple[list[CheckResult], CameraOutcome]:
    """``detector`` and ``grab`` default to the configured camera model and source."""
    camera = config.camera
    if camera is None:
        return _skip("no camera fitted ([camera] absent): nothing to check, no snapshot")
    if not camera.enabled:
        return _skip("camera disabled ([camera] enabled = false): no snapshot taken")
    ask.say(f"   loading the person detector and reading {camera.source} ...")
    while True:
        try:
            seeing = detector or build_detector(camera)
            shot = take_road_snapshot(
                grab or (lambda: grab_frame(camera.source, max_width=camera.max_width)),
                seeing,
                encode_png,
                snapshot_path(config.state_dir),
            )
            break
        except PersonInView as err:
            ask.say(f"   {err}")
            if ask.scripted or not ask.confirm("camera.retry", "Take the snapshot again?"):
                return [
                    CheckResult(
                        name="road snapshot",
                        outcome="fail",
                        detail=str(err),
                        fix="wait until nobody is in view, then commission again",
                    )
                ], CameraOutcome()
        except (CameraUnavailable, DetectorError) as err:
            return [
                CheckResult(
                    name="road snapshot",
                    outcome="fail",
                    detail=str(err),
                    fix="check [camera] source, the cable and the camera model files",
                )
            ], CameraOutcome()
    outcome = CameraOutcome(snapshot=shot.path, image_size=(shot.width, shot.height))
    results = [
        CheckResult(
            name="road snapshot",
            outcome="pass",
            detail=f"{shot.width}x{shot.height}, nobody in view, saved as {shot.path.name}",
        )
    ]
    results.append(_points(config, ask, outcome))
    return results, outcome


def _points(config: PoleConfig, ask: Prompter, outcome: CameraOutcome) -> CheckResult:
    assert config.camera is not None and outcome.image_size is not None
    current = config.camera.calibration
    ask.say(f"   ground-plane points now (image {current.image_size[0]}x{current.image_size[1]}):")
    for number, point in enumerate(current.points, start=1):
        ask.say(
            f"     {number}: pixel ({point.image[0]:g}, {point.image[1]:g}) -> road "
            f"({point.road[0]:g} m, {point.road[1]:g} m)"
        )
    outcome.points = [(*p.image, *p.road) for p in current.points]
    if ask.confirm("camera.keep_points", "Do these points match the road in the snapshot?"):
        if tuple(current.image_size) != outcome.image_size:
            return CheckResult(
                name="ground plane",
                outcome="warn",
                detail=f"kept {len(current.points)} points marked on a "
                f"{current.image_size[0]}x{current.image_size[1]} image; the snapshot is "
                f"{outcome.image_size[0]}x{outcome.image_size[1]} (scaled)",
                fix="mark the points again on this snapshot if detections land off the road",
            )
        return CheckResult(
            name="ground plane", outcome="pass", detail=f"{len(current.points)} points confirmed"
        )
    while True:
        points = ask.points(
            "camera.points",
            "Enter four or more points (no three in a line), marked on the snapshot:",
        )
        table = {
            "image_size": list(outcome.image_size),
            "points": [{"image": [u, v], "road": [x, y]} for u, v, x, y in points],
        }
        try:
            calibration = CameraCalibrationConfig.model_validate(table)
        except (ValidationError, ValueError) as err:
            reason = _first_error(err)
            if ask.scripted or not points:
                return CheckResult(
                    name="ground plane",
                    outcome="fail",
                    detail=f"points not usable: {reason}",
                    fix="mark four or more road points on the snapshot, spread out",
                )
            ask.say(f"  not usable: {reason}; enter them again")
            continue
        break
    outcome.points = points
    outcome.calibration = table
    worst = max(calibration.ground().reprojection_px)
    return CheckResult(
        name="ground plane",
        outcome="pass",
        detail=f"{len(points)} new points, worst reprojection {worst:.1f} px; into the config",
    )


def _first_error(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        return str(first["msg"]).removeprefix("Value error, ")
    return str(err)
