"""The real person detector (pose_detection.tflite through ai-edge-litert) on real photographs
shipped in scikit-image's wheel, and the loading path with its checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import skimage.data

from pole_agent.config import CameraConfig
from pole_agent.perception.camera.detection import DetectorError
from pole_agent.perception.camera.detectors import (
    POSE_METADATA,
    POSE_MODEL,
    build_detector,
    check_shipped_model,
)
from pole_agent.perception.camera.letterbox import Letterbox
from pole_agent.perception.camera.pose_detector import PoseDetector
from simulator.camera_world import CameraWorld
from simulator.world import World


def rgb(name: str) -> npt.NDArray[np.uint8]:
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def camera_config(**extra: object) -> CameraConfig:
    section = CameraWorld(World()).camera_section("0")
    return CameraConfig.model_validate({**section, **extra})


def test_finds_the_astronaut(pose_detector: PoseDetector) -> None:
    found = pose_detector.detect(rgb("astronaut"))
    assert len(found) == 1
    person = found[0]
    assert person.label == "person" and person.score > 0.7
    # Her face is around x 0.3..0.6, y 0.05..0.35 of the photograph: inside the body box, and
    # the body's axis (hips to head) points up the image.
    xmin, ymin, xmax, ymax = person.box
    assert xmin < 0.3 and xmax > 0.6 and ymin < 0.1 and ymax > 0.9
    hips, top = person.keypoints[0], person.keypoints[1]
    assert top[1] < hips[1] and 0.3 < top[0] < 0.6


def test_finds_the_cameraman_and_nobody_in_photographs_without_people(
    pose_detector: PoseDetector,
) -> None:
    assert [d.label for d in pose_detector.detect(rgb("camera"))] == ["person"]
    for empty in ("coffee", "chelsea", "rocket"):
        assert pose_detector.detect(rgb(empty)) == [], empty


def test_finds_the_person_wherever_the_letterbox_puts_them(pose_detector: PoseDetector) -> None:
    """The astronaut on the left of a wide frame is found on the left: letterbox removal."""
    wide = np.full((512, 1536, 3), 90, dtype=np.uint8)
    wide[:, :512] = rgb("astronaut")
    found = pose_detector.detect(wide)
    assert len(found) == 1
    xmax = found[0].box[2]
    assert xmax < 0.36 and found[0].keypoints[1][0] < 0.25


def test_postprocess_maps_the_letterbox_back(pose_detector: PoseDetector) -> None:
    """Raw outputs set by hand: one strong anchor cluster around the input's centre, keypoints
    placed so that the body stands upright; the frame was letterboxed top and bottom."""
    raw = np.zeros((2254, 12), dtype=np.float32)
    logits = np.full(2254, -20.0, dtype=np.float32)
    anchor = 14 * 28 * 2 + 14 * 2  # stride-8 cell (14, 14): centre (0.518, 0.518)
    logits[anchor] = 5.0
    cx = (14 + 0.5) / 28
    raw[anchor, 4:6] = [(0.5 - cx) * 224, (0.6 - cx) * 224]  # hips at (0.5, 0.6) of the input
    raw[anchor, 6:8] = [(0.5 - cx) * 224, (0.3 - cx) * 224]  # head end of the circle
    pad = Letterbox(left=0.0, top=0.25, right=0.0, bottom=0.25)
    found = pose_detector.postprocess(raw, logits, pad, 400, 200)
    assert len(found) == 1
    hips, head = found[0].keypoints[0], found[0].keypoints[1]
    assert hips == pytest.approx((0.5, 0.7), abs=1e-5)
    assert head == pytest.approx((0.5, 0.1), abs=1e-5)
    # Circle radius 0.6 of 200 px = 120 px: the box reaches 120 px below the hips (clipped).
    assert found[0].box == pytest.approx((0.35, 0.1, 0.65, 1.0), abs=1e-5)
    assert found[0].score == pytest.approx(1 / (1 + np.exp(-5.0)), rel=1e-5)


def test_built_from_config_with_the_checksum_checked() -> None:
    detector = build_detector(camera_config())
    assert isinstance(detector, PoseDetector)
    assert detector.labels == frozenset({"person"})
    assert len(detector.detect(rgb("astronaut"))) == 1


def test_a_missing_or_corrupt_or_foreign_model_is_refused_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.tflite"
    with pytest.raises(DetectorError, match=r"nowhere\.tflite is missing"):
        build_detector(camera_config(model_path=str(missing)))
    corrupt = tmp_path / "corrupt.tflite"
    data = bytearray(POSE_MODEL.read_bytes())
    corrupt.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(DetectorError, match=r"corrupt\.tflite"):
        build_detector(camera_config(model_path=str(corrupt)))
    # The shipped file with one byte changed is not the recorded one.
    tampered = tmp_path / "pose_detection.tflite"
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    shutil.copy(POSE_METADATA, tmp_path / "pose_detection.json")
    with pytest.raises(DetectorError, match="not the recorded file"):
        check_shipped_model(tampered, tmp_path / "pose_detection.json")
    with pytest.raises(DetectorError, match="scripts/fetch_person_model"):
        check_shipped_model(tmp_path / "absent.tflite", POSE_METADATA)
