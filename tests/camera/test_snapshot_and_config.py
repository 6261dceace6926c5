"""The commissioning snapshot (the one image kept: the empty road, refused with anyone in view)
and the [camera] configuration's checks."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from pole_agent.config import ConfigError, PoleConfig, load_config, parse_config
from pole_agent.drivers.camera import encode_png, grab_frame, write_video
from pole_agent.perception.camera.pose_detector import PoseDetector
from pole_agent.perception.camera.snapshot import PersonInView, snapshot_path, take_road_snapshot
from simulator.camera_world import CameraWorld
from simulator.world import World

ROOT = Path(__file__).resolve().parents[2]


def empty_road() -> np.ndarray:
    return CameraWorld(World()).background().copy()


def test_the_empty_road_is_saved_atomically_and_privately(
    tmp_path: Path, pose_detector: PoseDetector
) -> None:
    video = tmp_path / "road.avi"
    write_video(video, [empty_road()] * 6, fps=10)
    dest = snapshot_path(tmp_path / "state")
    shot = take_road_snapshot(lambda: grab_frame(str(video)), pose_detector, encode_png, dest)
    assert shot.path == dest and (shot.width, shot.height) == (640, 360)
    data = dest.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) == shot.bytes_written
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert sorted(p.name for p in dest.parent.iterdir()) == ["road-snapshot.png"]


def test_a_snapshot_with_a_person_in_view_is_refused_and_nothing_is_written(
    tmp_path: Path, pose_detector: PoseDetector
) -> None:
    frame = empty_road()
    photo = np.asarray(skimage.data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    person = photo[::2, ::2]  # 256 x 256
    frame[100:356, 200:456] = person
    dest = snapshot_path(tmp_path / "state")
    with pytest.raises(PersonInView, match=r"1 person\(s\) in view"):
        take_road_snapshot(lambda: frame, pose_detector, encode_png, dest)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def camera_table() -> dict[str, object]:
    return CameraWorld(World()).camera_section("0")


def base() -> dict[str, object]:
    return {"pole_id": "p-1", "radars": {"road": {}}, "camera": camera_table()}


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_a_valid_camera_section_and_its_defaults() -> None:
    config = parse_config(base())
    camera = config.camera
    assert camera is not None and camera.detector == "pose" and camera.fps == 10.0
    assert camera.calibration.ground().camera_height_m == pytest.approx(4.0, abs=0.01)
    assert parse_config({"pole_id": "p-1", "radars": {"road": {}}}).camera is None


def test_bad_camera_sections_are_refused_naming_the_key() -> None:
    table = camera_table()
    calibration = dict(table["calibration"])  # type: ignore[call-overload]
    points = list(calibration["points"])
    line = [{"image": [100 * i, 200], "road": [float(i), 0.0]} for i in range(3)]
    bad = {**calibration, "points": [*line, points[3]]}
    found = problems({**base(), "camera": {**table, "calibration": bad}})
    assert any(p.startswith("camera.calibration:") and "collinear" in p for p in found), found
    found = problems(
        {**base(), "camera": {**table, "calibration": {**calibration, "points": points[:3]}}}
    )
    assert any(p.startswith("camera.calibration.points:") for p in found), found
    found = problems({**base(), "camera": {**table, "detector": "ssd"}})
    assert any("needs model_path and label_map" in p for p in found), found
    found = problems({**base(), "camera": {**table, "fps": 0}})
    assert any(p.startswith("camera.fps:") for p in found), found
    found = problems({**base(), "camera": {**table, "colour": "red"}})
    assert any(p.startswith("camera.colour:") and "unknown key" in p for p in found), found
    found = problems({**base(), "camera": {**table, "child_max_height_m": 1.7}})
    assert any("child_max_height_m must not exceed" in p for p in found), found


def test_relative_model_paths_are_resolved_against_the_config_file(tmp_path: Path) -> None:
    table = camera_table()
    calib = table["calibration"]
    assert isinstance(calib, dict)
    points = "\n".join(
        f"[[camera.calibration.points]]\nimage = {p['image']}\nroad = {p['road']}"
        for p in calib["points"]
    )
    text = (
        'pole_id = "p-1"\n[radars.road]\n[camera]\nsource = "0"\ndetector = "ssd"\n'
        'model_path = "models/det.tflite"\nlabel_map = "models/labels.txt"\n'
        f"[camera.calibration]\nimage_size = [640, 360]\n{points}\n"
    )
    path = tmp_path / "pole.toml"
    path.write_text(text)
    config: PoleConfig = load_config(path)
    assert config.camera is not None
    assert config.camera.model_path == tmp_path / "models" / "det.tflite"
    assert config.camera.label_map == tmp_path / "models" / "labels.txt"
