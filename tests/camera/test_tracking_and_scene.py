"""Tracker, and the scene on simulator frames: people placed at the kerb or on the crossing,
children told from adults by height, vehicles' speed and arrival from their positions."""

from __future__ import annotations

import math

import pytest

from pole_agent.config import CameraConfig
from pole_agent.perception.camera.detection import Detection
from pole_agent.perception.camera.scene import CameraScene, RoadZones, SceneSettings
from pole_agent.perception.camera.tracker import Observation, Tracker
from simulator.camera_world import CameraWorld, KeyColourDetector
from simulator.pedestrians import Pedestrian, along_footway, crossing, waiting
from simulator.world import Vehicle, World

FPS = 10.0


def scene_for(world: World) -> tuple[CameraWorld, CameraScene]:
    view = CameraWorld(world)
    config = CameraConfig.model_validate(view.camera_section("0"))
    road = config.road
    zones = RoadZones(
        kerb_y_m=road.kerb_y_m,
        far_kerb_y_m=road.far_kerb_y_m,
        crossing_x_m=road.crossing_x_m,
        kerb_band_m=road.kerb_band_m,
        watch_length_m=road.watch_length_m,
    )
    return view, CameraScene(config.calibration.ground(), zones, SceneSettings())


def test_tracker_keeps_two_walkers_apart_and_measures_their_velocity() -> None:
    tracker = Tracker(max_gap_s=0.5, velocity_window_s=1.0)
    for i in range(11):
        t = i * 0.1
        tracker.update(
            t,
            [
                Observation(t, "person", 1.0 * t, 0.0),
                Observation(t, "person", 3.0 - 1.5 * t, 0.5),
            ],
        )
    tracks = sorted(tracker.tracks, key=lambda tr: tr.track_id)
    assert [tr.hits for tr in tracks] == [11, 11]
    v0, v1 = tracks[0].velocity(1.0), tracks[1].velocity(1.0)
    assert v0 == pytest.approx((1.0, 0.0)) and v1 == pytest.approx((-1.5, 0.0))
    # Unseen past max_gap_s: closed; the next observation opens a new track.
    updated = tracker.update(2.0, [Observation(2.0, "person", 2.0, 0.0)])
    assert [tr.track_id for tr in updated] == [3] and len(tracker.tracks) == 1


def test_tracker_does_not_swap_categories_or_jump_beyond_its_gate() -> None:
    tracker = Tracker()
    tracker.update(0.0, [Observation(0.0, "person", 0.0, 0.0)])
    updated = tracker.update(0.1, [Observation(0.1, "vehicle", 0.1, 0.0)])
    assert updated[0].track_id == 2  # a vehicle never continues a person's track
    updated = tracker.update(0.2, [Observation(0.2, "person", 5.0, 0.0)])
    assert updated[0].track_id == 3  # 5 m in 0.2 s is not a walking person


def test_zones_place_people_by_the_kerbs_and_the_crossing() -> None:
    zones = RoadZones(kerb_y_m=-0.5, far_kerb_y_m=-7.5, kerb_band_m=1.0, crossing_x_m=6.0)
    assert zones.place(6.0, 0.0) == "kerb"
    assert zones.place(6.0, 1.0) is None  # too far back on the footway
    assert zones.place(6.0, -3.0) == "crosswalk"
    assert zones.place(14.0, -3.0) == "crosswalk"  # in the road, off the stripes
    assert zones.place(6.0, -8.2) == "kerb"  # waiting across the road
    assert zones.place(30.0, 0.0) is None  # beyond watch_length_m


@pytest.mark.parametrize(
    ("person", "kind", "where"),
    [
        (waiting(1, 0.0, 10.0, age_group="child", height_m=1.15), "child", "kerb"),
        (waiting(2, 0.0, 10.0, age_group="child", height_m=1.38), "child", "kerb"),
        (waiting(3, 0.0, 10.0, age_group="adult", height_m=1.72), "adult", "kerb"),
        (crossing(4, 0.0, age_group="child", height_m=1.25, speed_mps=1.0), "child", "crosswalk"),
        (crossing(5, 0.0, age_group="adult", height_m=1.85, speed_mps=1.3), "adult", "crosswalk"),
    ],
)
def test_rendered_people_are_placed_and_classed_by_their_height(
    person: Pedestrian, kind: str, where: str
) -> None:
    view, scene = scene_for(World(pedestrians=[person], lane_offset_m=2.25))
    detector = KeyColourDetector()
    reports = []
    heights = []
    for i in range(8):
        t = 1.0 + i / FPS
        found = detector.detect(view.render(t))
        assert [d.label for d in found] == ["person"]
        observation = scene.observe(t, found[0])
        assert observation is not None and observation.height_m is not None
        heights.append(observation.height_m)
        x, y = person.position(t)
        assert math.hypot(observation.x - x, observation.y - y) < 0.25
        reports += scene.on_frame(t, found).pedestrians
    assert sum(heights) / len(heights) == pytest.approx(person.height_m, abs=0.06)
    assert len(reports) == 7  # min_hits = 2: the first frame is not reported
    assert {(r.kind, r.where, r.source) for r in reports} == {(kind, where, "camera")}
    assert len({r.track_id for r in reports}) == 1


def test_a_rendered_vehicle_gives_speed_and_arrival_at_the_crossing() -> None:
    car = Vehicle(1, 0.0, 36.0, "approaching")  # 10 m/s, from x = 53 m to 3 m
    receding = Vehicle(2, 0.0, 30.0, "receding")
    world = World([car, receding], lane_offset_m=2.25)
    view, scene = scene_for(world)
    detector = KeyColourDetector()
    coming = []
    for i in range(30):
        t = 1.0 + i / FPS
        coming += scene.on_frame(t, detector.detect(view.render(t))).vehicles
    assert coming, "the approaching car was never reported"
    last = coming[-1]
    assert last.speed_kmh == pytest.approx(36.0, abs=3.0)
    x_now = float(world.vehicle_path(car, last.t).position(last.t)[0])
    assert last.arrival_s == pytest.approx((x_now - 6.0) / 10.0, abs=0.4)
    assert {v.track_id for v in coming} == {coming[0].track_id}  # only the approaching one


def test_boxes_cut_by_the_frame_or_in_the_sky_are_counted_not_placed() -> None:
    _, scene = scene_for(World())
    cut = Detection("person", 0.9, (0.4, 0.5, 0.5, 1.0))
    sky = Detection("person", 0.9, (0.4, 0.0, 0.5, 0.02))
    tree = Detection("potted plant", 0.9, (0.4, 0.5, 0.5, 0.7))
    report = scene.on_frame(1.0, [cut, sky, tree])
    assert report.pedestrians == [] and report.vehicles == []
    assert scene.counts["foot_cut"] == 1 and scene.counts["off_road"] == 1
    assert scene.counts["other"] == 1


def test_walkers_on_the_footway_far_from_the_kerb_are_not_reported() -> None:
    walker = along_footway(
        9, 0.0, age_group="child", height_m=1.2, speed_mps=1.2, offset_m=2.5, length_m=12.0
    )
    view, scene = scene_for(World(pedestrians=[walker], lane_offset_m=2.25))
    detector = KeyColourDetector()
    reports = []
    for i in range(10):
        t = 2.0 + i / FPS
        reports += scene.on_frame(t, detector.detect(view.render(t))).pedestrians
    assert reports == [] and scene.counts["placed"] == 10
