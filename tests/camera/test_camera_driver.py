"""The camera driver on real OpenCV: video files it reads (written here with cv2.VideoWriter),
a device that is not there, and the worker's health from what the capture does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pole_agent.clock import ScaledClock
from pole_agent.drivers.camera import (
    CameraCapture,
    CameraUnavailable,
    describe,
    encode_png,
    grab_frame,
    parse_source,
    write_video,
)
from pole_agent.health import HealthBoard
from pole_agent.perception.camera.detection import Detection, Frame
from pole_agent.perception.camera.scene import CameraScene, RoadZones
from pole_agent.perception.camera.worker import CameraWorker, LatestFrame
from pole_agent.ports import PedestrianSeen, VehicleApproaching
from simulator.camera_world import CameraWorld
from simulator.world import World
from tests import pole_rig


def numbered_frames(count: int, width: int = 320, height: int = 180) -> list[Frame]:
    """Frames whose left block's grey level is 10 x their index; the right half is red."""
    frames = []
    for i in range(count):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[:, : width // 2] = (10 * i) % 250
        frame[:, width // 2 :] = (200, 0, 0)
        frames.append(frame)
    return frames


class Collector:
    def __init__(self) -> None:
        self.frames: list[tuple[Frame, float]] = []
        self.lock = threading.Lock()

    def __call__(self, frame: Frame, t: float) -> None:
        with self.lock:
            self.frames.append((frame, t))

    def count(self) -> int:
        with self.lock:
            return len(self.frames)


def wait_until(condition: Callable[[], bool]) -> bool:
    return pole_rig.wait_until(condition, 20.0)


def test_sources_are_parsed_and_described_without_credentials() -> None:
    assert parse_source("0") == 0 and parse_source(" 2 ") == 2
    assert parse_source("rtsp://u:p@cam/stream") == "rtsp://u:p@cam/stream"
    assert describe(0) == "camera device 0"
    assert describe("rtsp://user:secret@10.1.2.3/live") == "stream rtsp://10.1.2.3/live"
    assert describe("/tmp/x.avi") == "video file /tmp/x.avi"


def test_a_video_file_is_read_frame_by_frame_in_rgb_at_its_rate(tmp_path: Path) -> None:
    path = tmp_path / "road.avi"
    assert write_video(path, numbered_frames(20), fps=10) == 20
    clock = ScaledClock(5.0)
    got = Collector()
    capture = CameraCapture(str(path), clock, got, fps=10, max_width=160)
    capture.start()
    try:
        assert wait_until(lambda: capture.status().state == "ended")
    finally:
        capture.stop()
    status = capture.status()
    # Frame k is due at k / fps on the agent's clock; one whose time passed while a starved
    # machine held the reader up is skipped and counted, as a live camera's would be lost.
    assert got.count() == status.frames and status.frames + status.skipped == 20
    assert status.frames >= 10 and status.opens == 1 and "ended" in status.error
    frames = [f for f, _ in got.frames]
    assert all(f.shape == (90, 160, 3) and f.dtype == np.uint8 for f in frames)  # scaled down
    assert frames[0][45, 120] == pytest.approx((200, 0, 0), abs=12)  # red stays red: RGB order
    start = got.frames[0][1]
    for frame, t in got.frames:  # each frame carries its own time: level 10 k at k / fps
        k = round((t - start) * 10)
        assert int(frame[45, 40, 0]) == pytest.approx(10 * k, abs=6)


def test_a_looped_video_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "loop.avi"
    write_video(path, numbered_frames(5), fps=10)
    got = Collector()
    capture = CameraCapture(str(path), ScaledClock(5.0), got, fps=10, loop=True)
    capture.start()
    try:
        assert wait_until(lambda: got.count() >= 12)
    finally:
        capture.stop()
    start = got.frames[0][1]
    for frame, t in got.frames:
        k = round((t - start) * 10) % 5
        assert int(frame[45, 40, 0]) == pytest.approx(10 * k, abs=6)
    assert capture.status().state == "stopped"


def test_a_missing_device_or_file_fails_and_keeps_retrying_without_a_crash(
    tmp_path: Path,
) -> None:
    for source in ("97", str(tmp_path / "absent.avi")):
        got = Collector()
        capture = CameraCapture(source, ScaledClock(20.0), got, fps=10, reopen_max_s=1.0)
        capture.start()
        try:
            assert wait_until(lambda c=capture: c.status().failures >= 3)  # type: ignore[misc]
            status = capture.status()
            assert status.state == "failed" and got.count() == 0
            assert "97" in status.error or "missing" in status.error
        finally:
            capture.stop()
    with pytest.raises(CameraUnavailable, match="cannot open camera device 97"):
        grab_frame("97")


def test_grab_and_encode_a_snapshot_frame(tmp_path: Path) -> None:
    path = tmp_path / "one.avi"
    write_video(path, numbered_frames(6), fps=10)
    frame = grab_frame(str(path), settle_frames=3)
    assert frame.shape == (180, 320, 3) and int(frame[90, 40, 0]) == pytest.approx(20, abs=6)
    assert encode_png(frame)[:8] == b"\x89PNG\r\n\x1a\n"


class RecordingPort:
    def __init__(self) -> None:
        self.pedestrians: list[PedestrianSeen] = []
        self.vehicles: list[VehicleApproaching] = []

    def pedestrian(self, seen: PedestrianSeen) -> None:
        self.pedestrians.append(seen)

    def vehicle(self, approaching: VehicleApproaching) -> None:
        self.vehicles.append(approaching)


class CountingDetector:
    """Finds nothing; counts the frames it was given."""

    def __init__(self) -> None:
        self.frames = 0

    @property
    def labels(self) -> frozenset[str]:
        return frozenset({"person"})

    def detect(self, frame: Frame) -> list[Detection]:
        self.frames += 1
        return []


def make_worker(
    source: str, clock: ScaledClock, health: HealthBoard, budget_ms: float = 1000.0
) -> tuple[CameraCapture, CameraWorker, CountingDetector]:
    view = CameraWorld(World())
    from pole_agent.config import CameraConfig

    config = CameraConfig.model_validate(view.camera_section(source))
    scene = CameraScene(config.calibration.ground(), RoadZones())
    slot = LatestFrame()
    capture = CameraCapture(source, clock, slot.put, fps=10, reopen_max_s=1.0)
    detector = CountingDetector()
    worker = CameraWorker(
        name="model.camera",
        slot=slot,
        capture=capture,
        detector=detector,
        scene=scene,
        port=RecordingPort(),
        clock=clock,
        health=health,
        budget_ms=budget_ms,
        stale_after_s=2.0,
    )
    return capture, worker, detector


def test_worker_health_ok_then_failed_when_the_video_ends(tmp_path: Path) -> None:
    path = tmp_path / "short.avi"
    write_video(path, numbered_frames(30), fps=10)
    clock = ScaledClock(10.0)
    health = HealthBoard()
    capture, worker, detector = make_worker(str(path), clock, health)
    worker.start()
    capture.start()
    try:
        assert wait_until(lambda: (h := health.get("model.camera")) is not None and h.state == "ok")
        assert wait_until(lambda: health.get("model.camera").state == "failed")  # type: ignore[union-attr]
        assert "ended" in health.get("model.camera").reason  # type: ignore[union-attr]
    finally:
        worker.stop()
        capture.stop()
    status = capture.status()
    assert status.frames + status.skipped == 30  # late frames of a file are skipped, counted
    # Each delivered frame was detected or replaced by a newer one in the slot (the last one
    # may still have been waiting there when the worker stopped).
    assert 0 <= status.frames - (detector.frames + worker.dropped_frames) <= 1


def test_worker_says_a_missing_camera_failed_within_two_seconds() -> None:
    clock = ScaledClock(10.0)
    health = HealthBoard()
    capture, worker, _ = make_worker("97", clock, health)
    worker.start()
    capture.start()
    try:
        assert wait_until(lambda: health.get("model.camera") is not None)
        item = health.get("model.camera")
        assert item is not None and item.state == "failed"
        assert "cannot open camera device 97" in item.reason
        assert item.since <= 2.0  # simulated seconds from start
    finally:
        worker.stop()
        capture.stop()


def test_inference_over_budget_degrades_the_camera(tmp_path: Path) -> None:
    path = tmp_path / "long.avi"
    write_video(path, numbered_frames(40), fps=10)
    clock = ScaledClock(10.0)
    health = HealthBoard()
    capture, worker, _ = make_worker(str(path), clock, health, budget_ms=1e-6)
    worker.start()
    capture.start()
    try:
        assert wait_until(
            lambda: (h := health.get("model.camera")) is not None and h.state == "degraded"
        )
        assert "budget" in health.get("model.camera").reason  # type: ignore[union-attr]
    finally:
        worker.stop()
        capture.stop()
