"""What sets targets apart in the spectrum: the vehicle's line and wheel spread, a walker's limb
sidebands at the gait rate (faster for a child), a scooter's narrow line, cross-sections."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from simulator.gait import (
    LEG,
    POINT_NAMES,
    Walker,
    gait_cycle,
    human_rcs_m2,
    periodic_pchip,
)
from simulator.radar_physics import (
    RadarMount,
    ScattererModel,
    SensorSettings,
    contiguous_frame_ends,
    doppler_spectra,
)
from simulator.wheeled import Bicycle, Car, Scooter, StraightPath

SENSOR = SensorSettings()
HALF = SENSOR.fft_size // 2
MOUNT = RadarMount(height_m=1.0)
Spectra = npt.NDArray[np.float32]


def spectra(model: ScattererModel, frames: int, t_end: float, seed: int | None = None) -> Spectra:
    rng = None if seed is None else np.random.default_rng(seed)
    ends = contiguous_frame_ends(t_end, frames, SENSOR)
    return doppler_spectra([model], ends, SENSOR, MOUNT, rng=rng)


def radial_of(model: Walker | Car, t: float, height: float) -> float:
    if isinstance(model, Car):
        position, velocity = model.path.position(t), model.path.velocity
    else:
        position, velocity = model.position(t), model.velocity
    return MOUNT.radial_mps(position + np.array([0.0, 0.0, height]), velocity)


@pytest.mark.parametrize(
    ("speed_kmh", "aspect_deg", "range_m"),
    [(30.0, 0.0, 40.0), (50.0, 15.0, 40.0), (18.0, 30.0, 25.0)],
)
def test_vehicle_peak_bin_is_its_radial_speed(
    speed_kmh: float, aspect_deg: float, range_m: float
) -> None:
    heading = math.pi + math.radians(aspect_deg)  # coming at the radar, at an angle
    car = Car(StraightPath(range_m, 0.0, heading, speed_kmh / 3.6))
    frames = 8
    result = spectra(car, frames, t_end=1.0, seed=1)
    ends = contiguous_frame_ends(1.0, frames, SENSOR)
    for frame, t in zip(result, ends, strict=True):
        expected_bin = body_radial(car, t - SENSOR.frame_s / 2) / SENSOR.resolution_mps
        peak = int(np.argmax(frame))
        if aspect_deg == 0.0:  # head-on, the body's speed is the car's speed
            assert radial_of(car, t, 0.8) == pytest.approx(speed_kmh / 3.6, rel=1e-3)
            assert abs(peak - HALF - expected_bin) <= 1.0
            continue
        # At an angle the body's parts differ by about a bin; they beat, and the peak wanders
        # across the line while its centre of power stays within a bin of the body's speed.
        power = 10 ** (frame[peak - 3 : peak + 4] / 10)
        centre = float(np.sum(np.arange(peak - 3, peak + 4) * power) / np.sum(power)) - HALF
        assert abs(centre - expected_bin) <= 1.0
        assert abs(peak - HALF - expected_bin) <= 1.6


def body_radial(car: Car, t: float, dt: float = 1e-3) -> float:
    """RCS-weighted radial speed of the car body's scatterers (the first nine, before the
    wheels), from their geometry alone: seen at an angle, a car's front and sides are at
    slightly different aspects, so its line is the average of theirs."""
    positions, rcs = car.scatterers(np.array([t - dt, t + dt]))
    ranges = np.linalg.norm(MOUNT.to_radar(positions[:9]), axis=-1)
    radial = -(ranges[:, 1] - ranges[:, 0]) / (2 * dt)
    weights = rcs[:9, 0]
    return float(np.sum(radial * weights) / np.sum(weights))


def test_wheels_spread_up_to_twice_the_body_speed_and_weaker() -> None:
    v = 8.0
    car = Car(StraightPath(12.0, 0.0, math.pi, v))  # head-on, 12 m to 4 m over the window
    mean_power = 10 * np.log10(np.mean(10 ** (spectra(car, 16, 1.0) / 10), axis=0))
    speeds = SENSOR.bin_speeds_mps()
    body = float(speeds[np.argmax(mean_power)])
    assert body == pytest.approx(v, abs=2 * SENSOR.resolution_mps)
    peak = float(mean_power.max())
    lit = speeds[mean_power > peak - 55.0]  # noiseless: where the wheels put any energy
    assert lit.max() > 1.7 * v  # the tyres' tops run at 2v
    assert lit.max() < 2.0 * v + 4 * SENSOR.resolution_mps
    assert lit.min() < 0.3 * v  # their contact points stand still
    upper = (speeds > 1.15 * v) & (speeds < 2.0 * v)
    assert mean_power[upper].max() < peak - 15.0  # the spread is weaker than the body


def test_gait_relations_children_step_faster_with_shorter_strides() -> None:
    adult, child = gait_cycle(1.8, 1.4, "walk"), gait_cycle(1.15, 1.4, "walk")
    assert child.steps_per_s > adult.steps_per_s
    assert child.stride_m < adult.stride_m
    assert 1.6 <= adult.steps_per_s <= 2.1  # an adult's cadence at 1.4 m/s
    assert adult.leg_m == pytest.approx(LEG * 1.8)
    assert adult.stride_m == pytest.approx(1.346 * math.sqrt(1.4 / adult.leg_m) * adult.leg_m)
    run_adult, run_child = gait_cycle(1.8, 3.5, "run"), gait_cycle(1.2, 3.5, "run")
    assert run_child.steps_per_s > run_adult.steps_per_s > adult.steps_per_s
    with pytest.raises(ValueError, match="speed_mps"):
        gait_cycle(1.5, 0.0, "walk")


def limb_rate_hz(walker: Walker, frames: int = 128) -> float:
    """Dominant rate of the limb energy above the torso line: the step rate."""
    result = spectra(walker, frames, t_end=frames * SENSOR.frame_s)
    torso = walker.speed_mps / SENSOR.resolution_mps
    limbs = result[:, HALF + int(torso) + 8 : HALF + int(torso) + 40]
    energy = np.log10(np.sum(10 ** (limbs / 10), axis=1))
    energy -= energy.mean()
    padded = np.abs(np.fft.rfft(energy * np.hanning(frames), 4096))
    freqs = np.fft.rfftfreq(4096, SENSOR.frame_s)
    usable = freqs > 0.8
    return float(freqs[usable][np.argmax(padded[usable])])


def test_limb_energy_swings_at_the_step_rate_faster_for_a_child() -> None:
    speed = 1.3
    adult = Walker(1.8, speed, x0=12.0, heading_rad=math.pi)
    child = Walker(1.15, speed, x0=12.0, heading_rad=math.pi)
    adult_rate, child_rate = limb_rate_hz(adult), limb_rate_hz(child)
    assert adult_rate == pytest.approx(gait_cycle(1.8, speed, "walk").steps_per_s, abs=0.2)
    assert child_rate == pytest.approx(gait_cycle(1.15, speed, "walk").steps_per_s, abs=0.2)
    assert child_rate > adult_rate + 0.2


def sidebands_db(model: ScattererModel, body_mps: float) -> float:
    """Strongest power 1..4 m/s above the body line over a window (noise floor at 0 dB)."""
    result = spectra(model, 32, t_end=2.0, seed=4)
    lo = HALF + round((body_mps + 1.0) / SENSOR.resolution_mps)
    hi = HALF + round((body_mps + 4.0) / SENSOR.resolution_mps)
    return float(np.percentile(result[:, lo:hi].max(axis=1), 75))


def test_a_walker_has_limb_sidebands_a_scooter_does_not() -> None:
    v = 1.5
    walker = Walker(1.75, v, x0=10.0, heading_rad=math.pi)
    scooter = Scooter(StraightPath(10.0, 0.0, math.pi, v))
    torso = float(np.max(spectra(walker, 32, 2.0, seed=4)))
    assert sidebands_db(walker, v) > 15.0  # feet and shins swing well past the torso
    assert sidebands_db(walker, v) < torso - 6.0  # but weaker than it
    # a rider standing on a deck: only the small wheels' faint spread
    assert sidebands_db(scooter, v) < sidebands_db(walker, v) - 8.0


def test_a_bicycle_shows_spoke_spread_a_scooter_barely() -> None:
    v = 5.0
    bike = Bicycle(StraightPath(10.0, 0.0, math.pi, v))
    scooter = Scooter(StraightPath(10.0, 0.0, math.pi, v))
    assert sidebands_db(bike, v) > sidebands_db(scooter, v) + 5.0


def test_cross_sections_adult_above_child() -> None:
    assert human_rcs_m2(1.8) > human_rcs_m2(1.5) > human_rcs_m2(1.2)
    assert human_rcs_m2(1.75) == pytest.approx(0.3)

    def total_db(height: float) -> float:
        walker = Walker(height, 1.2, x0=10.0, heading_rad=math.pi)
        result = spectra(walker, 16, 1.0)
        return float(10 * np.log10(np.sum(10 ** (result / 10))))

    assert total_db(1.8) > total_db(1.15) + 3.0


def test_body_points_are_anatomical() -> None:
    walker = Walker(1.7, 1.4)
    times = np.linspace(0.0, 2.0, 201)
    positions, rcs = walker.scatterers(times)
    assert positions.shape == (len(POINT_NAMES), 201, 3)
    assert float(rcs.sum()) == pytest.approx(human_rcs_m2(1.7))
    heights = positions[:, :, 2]
    assert heights.min() > -0.02  # feet on (not through) the ground
    head = POINT_NAMES.index("head")
    assert heights[head].mean() == pytest.approx(1.7 * (LEG + 0.288 + 0.065), abs=0.05)
    forward = positions[:, -1, 0] - positions[:, 0, 0]
    assert forward.mean() == pytest.approx(2.8, abs=0.2)  # 2 s at 1.4 m/s
    standing = Walker(1.2, 0.0).scatterers(times)[0]
    assert np.ptp(standing[:, :, 0], axis=1).max() < 0.03  # a sway, no steps


def test_periodic_pchip_goes_through_its_points_and_wraps() -> None:
    xs, ys = np.array([-0.1, 0.5, 0.9]), np.array([25.0, -15.0, 25.0])
    u = np.array([0.5, 0.9, 0.0, 0.999999])
    values = periodic_pchip(xs, ys, u)
    assert values[:2] == pytest.approx([-15.0, 25.0])
    assert values[2] == pytest.approx(values[3], abs=1e-3)
    dense = periodic_pchip(xs, ys, np.linspace(0, 1, 1001, endpoint=False))
    assert dense.min() >= -15.0 - 1e-9 and dense.max() <= 25.0 + 1e-9  # monotone: no overshoot


def test_walker_rejects_impossible_people() -> None:
    with pytest.raises(ValueError, match="height_m"):
        Walker(3.0, 1.0)
    with pytest.raises(ValueError, match="gait"):
        Walker(1.5, 1.0, "hop")  # type: ignore[arg-type]
