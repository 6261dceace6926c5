"""The world's people, riders and lanes: geometry, echoes and scatterers; old API intact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.gait import Walker
from simulator.pedestrians import (
    ADULT_HEIGHT_M,
    CHILD_HEIGHT_M,
    Pedestrian,
    PedestrianScenario,
    Rider,
    RoadLayout,
    along_footway,
    crossing,
    generate_pedestrians,
    waiting,
)
from simulator.radar_physics import contiguous_frame_ends, doppler_spectra
from simulator.wheeled import Bicycle, Car, Scooter
from simulator.world import Vehicle, World


def test_a_child_walking_to_the_pole_is_an_echo_with_its_radial_speed() -> None:
    child = along_footway(
        10, 0.0, age_group="child", height_m=1.2, speed_mps=1.4, length_m=30.0, offset_m=1.0
    )
    world = World(pedestrians=[child], angle_deg=0.0, mount_height_m=1.0)
    (target,) = world.targets_at(5.0)  # 23 m up the footway, nearly head-on
    assert target.kind == "pedestrian" and target.vehicle_id == 10
    assert target.radial_kmh == pytest.approx(1.4 * 3.6, rel=0.01)
    assert target.range_m == pytest.approx(23.0, abs=0.2)
    assert world.targets_at(-1.0) == [] and world.targets_at(child.exit_s + 0.1) == []
    assert world.pedestrians() == [child] and world.ground_truth() == []


def test_someone_crossing_in_front_has_little_radial_speed() -> None:
    layout = RoadLayout(crosswalk_x_m=15.0)
    walker = crossing(
        1, 0.0, age_group="adult", height_m=1.8, speed_mps=1.3, layout=layout, offset_m=0.0
    )
    assert walker.duration_s == pytest.approx(layout.lanes * layout.lane_width_m / 1.3)
    world = World(pedestrians=[walker], angle_deg=10.0, layout=layout)
    (target,) = world.targets_at(2.0)
    assert abs(target.radial_kmh) < 0.3 * 1.3 * 3.6  # mostly across the line of sight


def test_vehicles_in_lanes_show_the_cosine_effect_as_they_pass() -> None:
    car = Vehicle(1, 0.0, 36.0, "approaching", beam_length_m=60.0)
    world = World([car], angle_deg=5.0, lane_offset_m=2.5, near_range_m=5.0)
    early, late = world.targets_at(0.5)[0], world.targets_at(5.75)[0]
    assert early.radial_kmh == pytest.approx(36.0, rel=0.02)  # far: nearly head-on
    x = 5.0 + 60.0 * (1 - 5.75 / 6.0)  # 7.5 m up the road, 2.5 m across, 0.4 m below
    assert late.radial_kmh == pytest.approx(36.0 * x / math.hypot(x, 2.5, 0.4), rel=1e-6)
    assert late.radial_kmh < 0.95 * 36.0  # near: seen from the side
    assert late.range_m < early.range_m
    legacy = World([car], angle_deg=20.0)  # no lanes: the constant-angle model, unchanged
    assert legacy.targets_at(1.0)[0].radial_kmh == pytest.approx(36.0 * math.cos(math.radians(20)))
    receding = World(
        [Vehicle(2, 0.0, 36.0, "receding")], angle_deg=5.0, lane_offset_m=2.5, near_range_m=5.0
    )
    assert receding.targets_at(3.0)[0].radial_kmh < 0


def test_scatterer_models_are_the_movers_present() -> None:
    people = [waiting(3, 0.0, 20.0, age_group="child", height_m=1.1)]
    riders = [
        Rider(rider_id=4, enter_s=0.0, kind="bicycle", speed_mps=5.0, start_xy=(30.0, -1.0)),
        Rider(rider_id=5, enter_s=0.0, kind="scooter", speed_mps=4.0, start_xy=(20.0, -1.0)),
    ]
    world = World([Vehicle(1, 0.0, 30.0, "approaching")], pedestrians=people, riders=riders)
    models = dict((m.mover_id, model) for m, model in world.scatterer_models_at(1.0))
    assert isinstance(models[1], Car) and isinstance(models[3], Walker)
    assert isinstance(models[4], Bicycle) and isinstance(models[5], Scooter)
    # standing still, the child is static clutter to a Doppler radar: a model (above) but no echo
    assert [t for t in world.targets_at(1.0) if t.kind == "pedestrian"] == []
    kinds = {t.kind for t in world.targets_at(1.0)}
    assert {"vehicle", "bicycle", "scooter"} <= kinds
    bus_world = World([Vehicle(9, 0.0, 30.0, "approaching", rcs_scale=4.0)])
    ((_, bus),) = bus_world.scatterer_models_at(1.0)
    assert isinstance(bus, Car) and bus.length_m > 10


def test_a_legacy_vehicle_spectrum_line_sits_at_its_speed_report() -> None:
    """Without lanes, the spectrum's body line and the speed report agree."""
    world = World([Vehicle(1, 0.0, 40.0, "approaching")], angle_deg=15.0, mount_height_m=0.8)
    t = 2.0
    report = world.strongest_at(t)
    assert report is not None
    models = [model for _, model in world.scatterer_models_at(t)]
    sensor = world.sensor
    spectrum = doppler_spectra(models, contiguous_frame_ends(t, 1, sensor), sensor, world.mount)[0]
    peak_mps = sensor.bin_speeds_mps()[int(np.argmax(spectrum))]
    assert peak_mps * 3.6 == pytest.approx(report.radial_kmh, abs=2 * sensor.resolution_mps * 3.6)


def test_ids_are_unique_across_vehicles_people_and_riders() -> None:
    world = World([Vehicle(1, 0.0, 30.0, "approaching")])
    with pytest.raises(ValueError, match="duplicate"):
        world.add(waiting(1, 0.0, 5.0, age_group="adult", height_m=1.7))
    world.add(waiting(2, 0.0, 5.0, age_group="adult", height_m=1.7))
    assert len(world.movers()) == 2 and len(world.riders()) == 0


def test_random_people_are_reproducible_and_in_their_height_ranges() -> None:
    scenario = PedestrianScenario(persons_per_hour=600, seed=5)
    people = generate_pedestrians(scenario, 600.0)
    assert people == generate_pedestrians(scenario, 600.0)
    assert people != generate_pedestrians(PedestrianScenario(persons_per_hour=600, seed=6), 600.0)
    assert 60 <= len(people) <= 140
    for person in people:
        low, high = CHILD_HEIGHT_M if person.age_group == "child" else ADULT_HEIGHT_M
        assert low <= person.height_m <= high
    groups = {p.age_group for p in people}
    assert groups == {"child", "adult"}
    assert {p.gait for p in people} == {"walk", "run"}
    assert generate_pedestrians(PedestrianScenario(persons_per_hour=0), 100.0) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"age_group": "teen"}, "age_group"),
        ({"height_m": 3.0}, "height_m"),
        ({"speed_mps": -1.0}, "speed_mps"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"gait": "skip"}, "gait"),
    ],
)
def test_pedestrians_reject_impossible_values(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "pedestrian_id": 1,
        "enter_s": 0.0,
        "age_group": "child",
        "height_m": 1.2,
        "speed_mps": 1.0,
        "start_xy": (0.0, 0.0),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        Pedestrian(**args)  # type: ignore[arg-type]


def test_world_and_layout_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="lane_offset_m"):
        World(lane_offset_m=-1.0)
    with pytest.raises(ValueError, match="mount_height_m"):
        World(mount_height_m=0.0)
    with pytest.raises(ValueError, match="lane_width_m"):
        RoadLayout(lane_width_m=0.0)
    with pytest.raises(ValueError, match="kind"):
        Rider(rider_id=1, enter_s=0.0, kind="skateboard", speed_mps=3.0, start_xy=(0, 0))  # type: ignore[arg-type]
