"""The radar equation, the sensor's bins, the sign convention, noise, clutter and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.radar_physics import (
    HZ_PER_MPS,
    WAVELENGTH_M,
    Foliage,
    RadarMount,
    SensorSettings,
    antenna_gain,
    contiguous_frame_ends,
    doppler_spectra,
    received_power_db,
)
from tests.physics.helpers import PointTarget

SENSOR = SensorSettings()
GROUND = RadarMount(height_m=0.0)  # radar at the scatterers' height: pure range geometry
HALF = SENSOR.fft_size // 2


def test_carrier_and_bins_match_the_sensor() -> None:
    assert pytest.approx(0.01243, abs=1e-5) == WAVELENGTH_M
    assert pytest.approx(160.9, abs=0.1) == HZ_PER_MPS
    # the OPS243's own "resolution" at 10 kHz / 1024 points (its ?? answer says 0.0607)
    assert SensorSettings(sampling_rate_hz=10_000).resolution_mps == pytest.approx(0.0607, abs=1e-4)
    assert SENSOR.resolution_mps == pytest.approx(0.1214, abs=1e-4)
    assert SENSOR.frame_s == pytest.approx(0.0512)
    assert SENSOR.max_speed_mps == pytest.approx(62.1, abs=0.1)
    speeds = SENSOR.bin_speeds_mps()
    assert speeds[HALF] == 0.0 and speeds.shape == (1024,)


@pytest.mark.parametrize("speed", [-7.3, -0.9, 0.6, 4.2, 13.9, 27.7])
def test_an_approaching_point_reads_positive_at_its_bin(speed: float) -> None:
    target = PointTarget((15.0, 0.0, 0.0), (-speed, 0.0, 0.0))
    spectra = doppler_spectra([target], contiguous_frame_ends(0.3, 4, SENSOR), SENSOR, GROUND)
    peaks = spectra.argmax(axis=1) - HALF
    assert all(abs(int(k) - speed / SENSOR.resolution_mps) <= 0.5 for k in peaks)


def test_calibration_and_fourth_power_law() -> None:
    on_bin = 40 * SENSOR.resolution_mps  # a tone centred on a bin: no scalloping
    near = PointTarget((10.0, 0.0, 0.0), (-on_bin, 0.0, 0.0))
    far = PointTarget((20.0, 0.0, 0.0), (-on_bin, 0.0, 0.0))
    ends = np.array([SENSOR.frame_s])  # the frame ends as the scatterer passes 10 m (or 20 m)
    p_near = doppler_spectra([near], ends + 0.0, SENSOR, GROUND).max()
    p_far = doppler_spectra([far], ends, SENSOR, GROUND).max()
    assert p_near == pytest.approx(SENSOR.snr_1m2_at_10m_db, abs=0.3)
    assert p_near - p_far == pytest.approx(40 * math.log10(2), abs=0.3)  # 12 dB per doubling
    assert received_power_db(1.0, 10.0, SENSOR) == pytest.approx(SENSOR.snr_1m2_at_10m_db)
    assert received_power_db(10.0, 20.0, SENSOR) == pytest.approx(40 + 10 - 12.04, abs=0.01)


def test_noise_floor_clutter_and_foliage() -> None:
    rng = np.random.default_rng(3)
    ends = contiguous_frame_ends(2.0, 40, SENSOR)
    empty = doppler_spectra([], ends, SENSOR, GROUND, rng=rng)
    mean_db = 10 * math.log10(float(np.mean(10 ** (empty / 10))))
    assert mean_db == pytest.approx(0.0, abs=0.2)

    clutter = doppler_spectra([], ends, SENSOR, GROUND, rng=rng, static_clutter_db=45.0)
    assert np.median(clutter[:, HALF]) == pytest.approx(45.0, abs=0.5)
    assert np.median(clutter[:, HALF + 10]) < 5.0  # the static return stays at 0 Hz

    mount = RadarMount(height_m=2.0)
    trees = Foliage.random(np.random.default_rng(1), 6, range_m=(4.0, 8.0), mount=mount)
    swaying = doppler_spectra([trees], ends, SENSOR, mount, rng=rng).mean(axis=0)
    slow = np.abs(SENSOR.bin_speeds_mps()) <= 1.0
    assert swaying[slow].max() > 15.0  # the leaves show, near 0 Hz
    assert swaying[~slow].max() < 8.0  # and nowhere else


def test_antenna_gain_falls_off_boresight() -> None:
    points = np.array([[10.0, 0.0, 0.0], [10.0, 10 * math.tan(math.radians(10)), 0.0]])
    gain = antenna_gain(points, SENSOR)
    assert gain[0] == pytest.approx(1.0)
    assert gain[1] == pytest.approx(0.5, abs=0.01)  # -3 dB one way at half the beam width
    behind = antenna_gain(np.array([[-10.0, 0.0, 0.0], [1.0, 10.0, 0.0]]), SENSOR)
    assert behind[0] < behind[1] <= 0.011


def test_mount_geometry() -> None:
    mount = RadarMount(x_m=1.0, y_m=2.0, height_m=3.0, azimuth_deg=90.0, tilt_deg=0.0)
    local = mount.to_radar(np.array([[1.0, 12.0, 3.0]]))
    assert local[0] == pytest.approx([10.0, 0.0, 0.0], abs=1e-9)
    tilted = RadarMount(height_m=1.0, tilt_deg=45.0).to_radar(np.array([[5.0, 0.0, -4.0]]))
    assert tilted[0, 1:] == pytest.approx([0.0, 0.0], abs=1e-9)  # on the tilted boresight
    assert mount.radial_mps(np.array([1.0, 12.0, 3.0]), np.array([0.0, -2.0, 0.0])) == 2.0


def test_same_seed_same_spectra_other_seed_other_noise() -> None:
    target = PointTarget((12.0, 1.0, 0.5), (-3.0, 0.0, 0.0))
    ends = contiguous_frame_ends(1.0, 6, SENSOR)
    mount = RadarMount(height_m=1.2, tilt_deg=3.0)

    def run(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return doppler_spectra([target], ends, SENSOR, mount, rng=rng, static_clutter_db=30.0)

    assert np.array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_settings_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="fft_size"):
        SensorSettings(fft_size=1000)
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        SensorSettings(sampling_rate_hz=0)
