"""The whole agent with a camera: what the camera sees reaches the warnings through the
Detections port, and a camera or model that fails leaves the pole on its radar, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pole_agent.perception.camera.camera_path import PEOPLE_ONLY_NAME, VEHICLE_SENSOR_NAME
from simulator.pedestrians import waiting
from simulator.world import Vehicle
from tests.camera.rig import CameraPole, make_camera_pole


@pytest.fixture
def poles() -> Iterator[list[CameraPole]]:
    made: list[CameraPole] = []
    yield made
    for pole in made:
        pole.stop()


def test_a_child_the_camera_sees_at_the_kerb_is_warned_of_a_radar_vehicle(
    tmp_path: Path, poles: list[CameraPole]
) -> None:
    child = waiting(1, 0.0, 12.0, age_group="child", height_m=1.2)
    car = Vehicle(10, 4.0, 45.0, "approaching")  # radar only: in the beam 4.0 .. 8.0
    pole = make_camera_pole(tmp_path, vehicles=[car], pedestrians=[child])
    poles.append(pole)
    pole.start()
    pole.until(10.0)
    camera = pole.agent.camera
    assert camera is not None and camera.worker is not None and camera.name == PEOPLE_ONLY_NAME
    health = pole.agent.health.get(PEOPLE_ONLY_NAME)
    assert health is not None and health.state == "ok", health
    pole.stop()

    warnings = pole.records("child_warning")
    assert warnings, "no child warning from the camera's child and the radar's car"
    first = warnings[0]
    assert first.inputs["pedestrian_source"] == "camera"
    assert first.inputs["pedestrian_kind"] == "child"
    assert first.inputs["pedestrian_where"] == "kerb"
    assert 4.0 <= first.t <= 8.5
    counts = camera.worker.counts
    assert counts["pedestrian_reports"] > 0 and counts["errors"] == 0


def test_an_adult_seen_by_the_camera_does_not_trigger_the_child_warning(
    tmp_path: Path, poles: list[CameraPole]
) -> None:
    adult = waiting(1, 0.0, 12.0, age_group="adult", height_m=1.78)
    car = Vehicle(10, 4.0, 45.0, "approaching")
    pole = make_camera_pole(tmp_path, vehicles=[car], pedestrians=[adult])
    poles.append(pole)
    pole.start()
    pole.until(9.0)
    pole.stop()
    assert pole.agent.camera is not None and pole.agent.camera.worker is not None
    assert pole.agent.camera.worker.counts["pedestrian_reports"] > 0
    assert pole.records("child_warning") == []
    assert pole.records("over_limit")  # the radar's warning goes on


def test_camera_vehicles_feed_the_child_rule_and_make_the_camera_a_vehicle_sensor(
    tmp_path: Path, poles: list[CameraPole]
) -> None:
    child = waiting(1, 0.0, 12.0, age_group="child", height_m=1.2)
    seen_car = Vehicle(20, 2.0, 36.0, "approaching")  # only the camera sees this one
    pole = make_camera_pole(tmp_path, pedestrians=[child], camera_vehicles=[seen_car])
    poles.append(pole)
    pole.start()
    pole.until(8.0)
    pole.stop()
    camera = pole.agent.camera
    assert camera is not None and camera.name == VEHICLE_SENSOR_NAME  # it sees cars
    warning = next(iter(pole.records("child_warning")), None)
    assert warning is not None
    assert warning.inputs["vehicle_source"] == "camera"
    assert warning.inputs["vehicle_speed_kmh"] == pytest.approx(36.0, abs=4.0)
    assert warning.inputs["vehicle_arrival_s"] is not None


def test_a_missing_camera_is_failed_and_the_pole_runs_on_radar_saying_so(
    tmp_path: Path, poles: list[CameraPole]
) -> None:
    car = Vehicle(10, 3.0, 45.0, "approaching")
    pole = make_camera_pole(tmp_path, vehicles=[car], source="97")
    poles.append(pole)
    started = pole.clock.monotonic()
    pole.start()
    assert pole.wait_for(lambda: pole.agent.health.get(PEOPLE_ONLY_NAME) is not None)
    health = pole.agent.health.get(PEOPLE_ONLY_NAME)
    assert health is not None and health.state == "failed"
    assert "cannot open camera device 97" in health.reason
    assert health.since - started <= 3.0  # within 2 s of start (simulated), plus scheduling
    pole.until(8.0)
    pole.stop()
    assert pole.records("over_limit"), "the radar's warning must go on"
    outputs = pole.agent.warnings.outputs if pole.agent.warnings else None
    assert outputs is not None
    modes = [(t.mode, t.reason) for t in outputs.transitions]
    assert any(mode == "degraded" and "camera failed" in reason for mode, reason in modes)


def test_a_missing_model_is_failed_at_start_and_the_pole_runs_on_radar(
    tmp_path: Path, poles: list[CameraPole]
) -> None:
    car = Vehicle(10, 3.0, 45.0, "approaching")
    pole = make_camera_pole(
        tmp_path, vehicles=[car], configured_model=True, model_path=str(tmp_path / "gone.tflite")
    )
    poles.append(pole)
    pole.start()
    pole.until(6.0)
    pole.stop()
    health = pole.agent.health.get(PEOPLE_ONLY_NAME)
    assert health is not None and health.state == "failed"
    assert "gone.tflite is missing" in health.reason
    assert pole.records("over_limit")
