"""The world model: vehicle geometry, echo strength, random traffic, thread-safe additions."""

from __future__ import annotations

import itertools
import math
import threading

import pytest

from simulator.world import TrafficScenario, Vehicle, World, generate_vehicles


def test_vehicle_exit_and_radial_speed() -> None:
    car = Vehicle(vehicle_id=1, enter_s=10.0, speed_kmh=36.0, direction="approaching")
    assert car.exit_s == pytest.approx(10.0 + 50.0 / 10.0)
    assert car.radial_kmh(0) == pytest.approx(36.0)
    assert car.radial_kmh(20) == pytest.approx(36.0 * math.cos(math.radians(20)))
    away = Vehicle(2, 0.0, 36.0, "receding", beam_length_m=20.0)
    assert away.exit_s == pytest.approx(2.0)
    assert away.radial_kmh(20) == pytest.approx(-36.0 * math.cos(math.radians(20)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"speed_kmh": 0.0}, "speed_kmh"),
        ({"beam_length_m": -1.0}, "beam_length_m"),
        ({"direction": "sideways"}, "direction"),
    ],
)
def test_vehicle_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "vehicle_id": 1,
        "enter_s": 0.0,
        "speed_kmh": 30.0,
        "direction": "approaching",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=field):
        Vehicle(**args)  # type: ignore[arg-type]


def test_targets_only_while_in_beam_and_magnitude_follows_range() -> None:
    world = World([Vehicle(1, 0.0, 36.0, "approaching")], angle_deg=10)  # 5 s in the beam
    assert world.targets_at(-0.01) == []
    assert world.targets_at(5.0) == []
    early, late = world.targets_at(0.5)[0], world.targets_at(4.5)[0]
    assert late.magnitude > early.magnitude  # an approaching car gets nearer
    assert late.range_m < early.range_m
    assert early.radial_kmh == pytest.approx(36.0 * math.cos(math.radians(10)))

    receding = World([Vehicle(1, 0.0, 36.0, "receding")])
    first, last = receding.targets_at(0.5)[0], receding.targets_at(4.5)[0]
    assert first.magnitude > last.magnitude
    assert first.radial_kmh < 0


def test_strongest_target_is_the_nearer_vehicle() -> None:
    near_soon = Vehicle(1, 0.0, 36.0, "approaching")  # at t=4 it is 10 m from its exit
    far_away = Vehicle(2, 3.5, 36.0, "approaching")  # just entered at t=4
    world = World([near_soon, far_away])
    targets = world.targets_at(4.0)
    assert [target.vehicle_id for target in targets] == [1, 2]
    strongest = world.strongest_at(4.0)
    assert strongest is not None
    assert strongest.vehicle_id == 1
    assert world.strongest_at(100.0) is None


def test_bigger_cross_section_can_win_at_equal_range() -> None:
    car = Vehicle(1, 0.0, 36.0, "approaching")
    bus = Vehicle(2, 0.0, 36.0, "approaching", rcs_scale=5.0)
    strongest = World([car, bus]).strongest_at(1.0)
    assert strongest is not None
    assert strongest.vehicle_id == 2


def test_world_validates_angle_and_unique_ids() -> None:
    with pytest.raises(ValueError, match="angle_deg"):
        World(angle_deg=90)
    world = World([Vehicle(1, 0.0, 30.0, "approaching")])
    with pytest.raises(ValueError, match="duplicate"):
        world.add(Vehicle(1, 5.0, 30.0, "approaching"))


def test_add_from_many_threads_keeps_every_vehicle_sorted() -> None:
    world = World()

    def add_range(offset: int) -> None:
        for i in range(200):
            world.add(Vehicle(offset + i, float((i * 7919 + offset) % 1000), 30.0, "receding"))

    threads = [threading.Thread(target=add_range, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    truth = world.ground_truth()
    assert len(truth) == 800
    assert [v.enter_s for v in truth] == sorted(v.enter_s for v in truth)


def test_targets_at_agrees_with_a_brute_force_scan() -> None:
    scenario = TrafficScenario(vehicles_per_hour=2000, speed_min_kmh=10, seed=3)
    vehicles = generate_vehicles(scenario, duration_s=600)
    world = World(vehicles, angle_deg=15)
    for t in [0.5 * k for k in range(0, 1200, 7)]:
        expected = {v.vehicle_id for v in vehicles if v.enter_s <= t < v.exit_s}
        assert {target.vehicle_id for target in world.targets_at(t)} == expected


def test_generation_is_deterministic_and_respects_bounds() -> None:
    scenario = TrafficScenario(
        vehicles_per_hour=600, speed_mean_kmh=40, speed_sd_kmh=30, approaching_share=0.7, seed=7
    )
    first = generate_vehicles(scenario, duration_s=3600, start_s=100.0)
    assert first == generate_vehicles(scenario, duration_s=3600, start_s=100.0)
    assert first != generate_vehicles(TrafficScenario(vehicles_per_hour=600, seed=8), 3600, 100.0)
    assert 500 < len(first) < 700  # Poisson: 600 expected, sd about 25
    assert all(100.0 <= v.enter_s < 3700.0 for v in first)
    assert all(10.0 <= v.speed_kmh <= 90.0 for v in first)
    share = sum(v.direction == "approaching" for v in first) / len(first)
    assert 0.6 < share < 0.8
    assert len({v.vehicle_id for v in first}) == len(first)


def test_headway_keeps_vehicles_apart_in_the_beam() -> None:
    scenario = TrafficScenario(vehicles_per_hour=1800, min_headway_s=2.0, seed=1)
    vehicles = generate_vehicles(scenario, duration_s=1800)
    assert len(vehicles) > 100
    for before, after in itertools.pairwise(vehicles):
        assert after.enter_s >= before.exit_s + 2.0 - 1e-9


def test_zero_headway_allows_overlap() -> None:
    scenario = TrafficScenario(vehicles_per_hour=1800, min_headway_s=0.0, seed=1)
    vehicles = generate_vehicles(scenario, duration_s=1800)
    assert any(b.enter_s < a.exit_s for a, b in itertools.pairwise(vehicles))


def test_empty_traffic() -> None:
    assert generate_vehicles(TrafficScenario(vehicles_per_hour=0), 3600) == []
    assert generate_vehicles(TrafficScenario(), 0) == []
    with pytest.raises(ValueError, match="duration_s"):
        generate_vehicles(TrafficScenario(), -1)


@pytest.mark.parametrize(
    "field",
    [
        "vehicles_per_hour",
        "speed_mean_kmh",
        "speed_sd_kmh",
        "speed_min_kmh",
        "approaching_share",
        "min_headway_s",
        "beam_length_m",
    ],
)
def test_scenario_validation_names_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrafficScenario(**{field: -1.0})  # type: ignore[arg-type]  # seed is the only int


def test_scenario_speed_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="speed_max_kmh"):
        TrafficScenario(speed_min_kmh=50, speed_max_kmh=40)
    with pytest.raises(ValueError, match="approaching_share"):
        TrafficScenario(approaching_share=1.5)
