"""The camera path, built from ``[camera]``: capture thread -> one-frame slot -> detector thread
-> scene (calibration, tracker) -> the Detections port, with its health.

``build_camera_path`` never raises for a camera or model problem: a detector that cannot be built
(model missing, corrupt, not the recorded file, a bad label map) makes a path that only reports
its component ``failed`` with the reason when started, and the agent runs on its radar alone (the
fail-safe logic reads the component and says so in the mode's reason). A camera that cannot be
opened or stops delivering frames is reported by the worker within ``stale_after_s``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pole_agent.config import CameraConfig
from pole_agent.drivers.camera import CameraCapture
from pole_agent.health import HealthBoard
from pole_agent.perception.camera.detection import Detector, DetectorError, category_of
from pole_agent.perception.camera.detectors import build_detector
from pole_agent.perception.camera.scene import CameraScene, RoadZones, SceneSettings
from pole_agent.perception.camera.tracker import Tracker
from pole_agent.perception.camera.worker import CameraWorker, LatestFrame
from pole_agent.ports import Clock, Detections

log = logging.getLogger(__name__)

VEHICLE_SENSOR_NAME = "camera"
"""Health component of a camera whose detector sees vehicles: a vehicle sensor (failsafe.py)."""
PEOPLE_ONLY_NAME = "model.camera"
"""Health component of a camera that sees only people: a capability, so that a camera blind to
vehicles never keeps the pole out of fail-safe when its radar is gone."""


def health_name(labels: frozenset[str]) -> str:
    sees_vehicles = any(category_of(label) == "vehicle" for label in labels)
    return VEHICLE_SENSOR_NAME if sees_vehicles else PEOPLE_ONLY_NAME


@dataclass
class CameraPath:
    name: str
    health: HealthBoard
    clock: Clock
    capture: CameraCapture | None = None
    worker: CameraWorker | None = None
    detector: Detector | None = None
    scene: CameraScene | None = None
    failure: str = ""
    """Why the path cannot run (empty when it can)."""

    def start(self) -> None:
        if self.worker is None or self.capture is None:
            self.health.report(self.name, "failed", self.failure, self.clock.monotonic())
            log.warning("camera path off (%s): the pole runs on its radar alone", self.failure)
            return
        self.worker.start()
        self.capture.start()

    def stop(self) -> None:
        # The worker first, so that a capture being stopped is not reported as a camera gone;
        # then again, to let go of a frame the capture put in the slot meanwhile.
        if self.worker is not None:
            self.worker.stop()
        if self.capture is not None:
            self.capture.stop()
        if self.worker is not None:
            self.worker.stop()


def build_camera_path(
    config: CameraConfig,
    *,
    clock: Clock,
    health: HealthBoard,
    port: Detections,
    detector: Detector | None = None,
) -> CameraPath:
    """The camera path for ``config`` (``detector``: one built elsewhere, e.g. the simulator's;
    default: the configured model)."""
    if detector is None:
        try:
            detector = build_detector(config)
        except DetectorError as err:
            name = VEHICLE_SENSOR_NAME if config.detector == "ssd" else PEOPLE_ONLY_NAME
            return CameraPath(name, health, clock, failure=f"detector: {err}")
    name = health_name(detector.labels)
    road = config.road
    scene = CameraScene(
        config.calibration.ground(),
        RoadZones(
            kerb_y_m=road.kerb_y_m,
            far_kerb_y_m=road.far_kerb_y_m,
            kerb_band_m=road.kerb_band_m,
            crossing_x_m=road.crossing_x_m,
            watch_length_m=road.watch_length_m,
        ),
        SceneSettings(
            child_max_height_m=config.child_max_height_m,
            adult_min_height_m=config.adult_min_height_m,
            min_hits=config.min_hits,
        ),
        Tracker(max_gap_s=config.track_gap_s),
    )
    slot = LatestFrame()
    capture = CameraCapture(
        config.source,
        clock,
        slot.put,
        fps=config.fps,
        max_width=config.max_width,
        loop=config.loop,
        reopen_max_s=config.reopen_max_s,
        name=name,
    )
    worker = CameraWorker(
        name=name,
        slot=slot,
        capture=capture,
        detector=detector,
        scene=scene,
        port=port,
        clock=clock,
        health=health,
        budget_ms=config.inference_budget_ms,
        stale_after_s=config.stale_after_s,
    )
    return CameraPath(name, health, clock, capture, worker, detector, scene)
