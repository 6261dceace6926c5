"""Ground-plane calibration with known geometry: synthetic cameras, points projected exactly (or
with pixel noise), positions, heights, focal length and camera height recovered."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pole_agent.perception.camera.calibration import (
    CalibrationError,
    GroundCalibration,
    GroundPoint,
)
from simulator.camera_world import CameraPose

ROAD_POINTS = [(4.0, -0.5), (8.0, -0.5), (4.0, -7.5), (8.0, -7.5), (20.0, -0.5), (20.0, -7.5)]
POSES = [
    CameraPose(),
    CameraPose(position=(0.0, 0.5, 5.5), yaw_deg=-30, pitch_deg=25, focal_px=900, width=1280,
               height=720),
    CameraPose(position=(1.0, 1.0, 3.0), yaw_deg=-10, pitch_deg=12, roll_deg=4, focal_px=600),
]  # fmt: skip


def calibrate(
    pose: CameraPose, noise_px: float = 0.0, seed: int = 0, mirror: bool = False
) -> GroundCalibration:
    rng = np.random.default_rng(seed)
    points = []
    for (u, v), (x, y) in pose.calibration_points(ROAD_POINTS):
        du, dv = rng.normal(0, noise_px, 2) if noise_px else (0.0, 0.0)
        points.append(GroundPoint((u + du, v + dv), (x, -y if mirror else y)))
    return GroundCalibration(points, (pose.width, pose.height))


def foot_and_head(
    pose: CameraPose, x: float, y: float, h: float
) -> tuple[tuple[float, float], ...]:
    pixels, _ = pose.project(np.array([[x, y, 0.0], [x, y, h]]))
    size = np.array([pose.width, pose.height])
    foot, head = pixels / size
    return (float(foot[0]), float(foot[1])), (float(head[0]), float(head[1]))


@pytest.mark.parametrize("pose", POSES)
def test_exact_points_recover_the_camera_the_road_and_heights(pose: CameraPose) -> None:
    cal = calibrate(pose)
    assert cal.focal_px == pytest.approx(pose.focal_px, rel=1e-6)
    assert cal.camera_height_m == pytest.approx(pose.position[2], abs=1e-6)
    for x, y, h in [(6.0, 0.2, 1.15), (6.5, -3.0, 1.8), (15.0, -2.0, 1.4), (9.0, 1.5, 0.95)]:
        foot, head = foot_and_head(pose, x, y, h)
        assert cal.image_to_road(foot) == pytest.approx((x, y), abs=1e-6)
        assert cal.height_m(foot, head) == pytest.approx(h, abs=1e-6)
        assert cal.road_to_image(x, y, h) == pytest.approx(head, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_heights_survive_half_a_pixel_of_noise_in_the_points(seed: int) -> None:
    pose = POSES[1]
    cal = calibrate(pose, noise_px=0.5, seed=seed)
    for x, y, h in [(6.0, 0.2, 1.2), (7.0, -4.0, 1.75), (12.0, -1.0, 1.35)]:
        foot, head = foot_and_head(pose, x, y, h)
        got = cal.image_to_road(foot)
        assert got is not None and np.hypot(got[0] - x, got[1] - y) < 0.1
        assert cal.height_m(foot, head) == pytest.approx(h, abs=0.05)


def test_a_mirrored_road_frame_gives_the_same_heights() -> None:
    """Installers may measure y the other way round: the road's normal is chosen to point at
    the camera, so heights stay positive and right."""
    pose = POSES[0]
    cal = calibrate(pose, mirror=True)
    foot, head = foot_and_head(pose, 6.0, -3.0, 1.3)
    assert cal.image_to_road(foot) == pytest.approx((6.0, 3.0), abs=1e-6)
    assert cal.height_m(foot, head) == pytest.approx(1.3, abs=1e-6)
    assert cal.camera_height_m == pytest.approx(4.0, abs=1e-6)


def test_points_above_the_horizon_are_not_on_the_road() -> None:
    cal = calibrate(POSES[0])
    assert cal.image_to_road((0.5, 0.01)) is None  # the sky
    assert cal.height_m((0.5, 0.01), (0.5, 0.0)) is None


def test_a_known_focal_length_is_used_as_given() -> None:
    pose = POSES[2]
    points = [GroundPoint(i, r) for i, r in pose.calibration_points(ROAD_POINTS)]
    cal = GroundCalibration(points, (pose.width, pose.height), focal_px=600.0)
    assert cal.focal_px == 600.0
    foot, head = foot_and_head(pose, 7.0, -2.0, 1.6)
    assert cal.height_m(foot, head) == pytest.approx(1.6, abs=1e-6)


def test_bad_point_sets_are_refused_with_the_reason() -> None:
    pose = POSES[0]
    good = [GroundPoint(i, r) for i, r in pose.calibration_points(ROAD_POINTS)]
    with pytest.raises(CalibrationError, match="at least 4"):
        GroundCalibration(good[:3], (640, 360))
    line = pose.calibration_points([(4.0, -0.5), (8.0, -0.5), (12.0, -0.5), (20.0, -7.5)])
    with pytest.raises(CalibrationError, match="collinear"):
        GroundCalibration([GroundPoint(i, r) for i, r in line], (640, 360))
    for index, typo in [(1, (8.0, 0.5)), (0, (4.0, -5.0)), (3, (6.0, -7.5))]:
        wrong = list(good)
        wrong[index] = GroundPoint(good[index].image, typo)
        with pytest.raises(CalibrationError, match=rf"point {index + 1} .* check its coordinates"):
            GroundCalibration(wrong, (640, 360))
    with pytest.raises(CalibrationError, match="finite"):
        GroundCalibration([GroundPoint((np.nan, 1.0), (0, 0)), *good[1:]], (640, 360))


COORD = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


@given(
    st.lists(st.tuples(st.tuples(COORD, COORD), st.tuples(COORD, COORD)), min_size=4, max_size=8),
    st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
)
def test_any_points_make_a_calibration_or_a_calibration_error(
    points: list[tuple[tuple[float, float], tuple[float, float]]], size: tuple[int, int]
) -> None:
    """Config input is never trusted: whatever the numbers, a CalibrationError (which the config
    turns into a message naming camera.calibration) or a calibration that answers."""
    try:
        cal = GroundCalibration([GroundPoint(i, r) for i, r in points], size)
    except CalibrationError:
        return
    cal.image_to_road((0.5, 0.5))
    cal.height_m((0.5, 0.9), (0.5, 0.1))
    cal.road_to_image(1.0, 1.0, 1.0)
