"""What a 24 GHz CW Doppler radar (OmniPreSense OPS243) measures of moving scatterers.

The one place of the radar physics that the emulator's spectrum mode and the training data of the
child/adult/vehicle model (issue 4) both stand on; docs/radar_physics.md gives every parameter with
its source. Targets are sets of point scatterers (``ScattererModel``: a walker's limbs in
``simulator.gait``, a car's body and wheels in ``simulator.wheeled``, swaying foliage here); this
module turns their positions over time into the sensor's complex baseband signal and its spectra:

- each scatterer returns ``K * sqrt(rcs) * g / R^2 * exp(-j 4 pi R / lambda)`` (radar equation:
  received power falls as ``R^-4``; ``g`` is the two-way antenna gain off boresight), so a target
  approaching the radar turns the phase forward: positive Doppler = inbound, as the sensor reports;
- positions are evaluated every ``DECIMATION`` samples and the phase taken as linear in between
  (a foot accelerating at 50 m/s^2 is off by less than 0.01 rad);
- white complex noise sets the floor at 0 dB per bin; a static return (road, pole, walls) sits at
  0 Hz; ``K`` is set by ``snr_1m2_at_10m_db``;
- each frame is ``fft_size`` samples, Hann-windowed, FFT'd, shifted so that bin ``k`` (from
  ``-fft_size/2``) is ``k * rate / fft_size`` Hz, and given as power in dB where a tone's peak
  reads its power (``|X|^2 / (sum w)^2``).

Everything is numpy, vectorised over scatterers and samples; a seed gives the same spectra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SPEED_OF_LIGHT_MPS: Final = 299_792_458.0
CARRIER_HZ: Final = 24.125e9
WAVELENGTH_M: Final = SPEED_OF_LIGHT_MPS / CARRIER_HZ
"""12.43 mm."""
HZ_PER_MPS: Final = 2.0 / WAVELENGTH_M
"""Doppler shift of 1 m/s radial speed: 161 Hz."""
DECIMATION: Final = 16
MIN_RANGE_M: Final = 0.3
SIDELOBE_FLOOR: Final = 0.01
"""Two-way amplitude gain outside the main lobe in front of the antenna (-20 dB one-way)."""
BACKLOBE: Final = 0.001


@dataclass(frozen=True, kw_only=True)
class SensorSettings:
    """The sensor's settings that shape a spectrum (the OPS243's defaults where it has them)."""

    sampling_rate_hz: int = 20_000
    fft_size: int = 1024
    beam_azimuth_deg: float = 20.0
    """-3 dB full width of the antenna beam, horizontal (UNVERIFIED; see the docs)."""
    beam_elevation_deg: float = 24.0
    snr_1m2_at_10m_db: float = 40.0
    """Peak of a 1 m^2 scatterer at 10 m on boresight, in dB above the per-bin noise floor."""

    def __post_init__(self) -> None:
        if self.fft_size < 16 or self.fft_size & (self.fft_size - 1):
            raise ValueError(f"fft_size must be a power of two >= 16, got {self.fft_size}")
        if self.fft_size % DECIMATION:
            raise ValueError(f"fft_size must be a multiple of {DECIMATION}")
        if self.sampling_rate_hz <= 0:
            raise ValueError(f"sampling_rate_hz must be positive, got {self.sampling_rate_hz}")

    @property
    def resolution_mps(self) -> float:
        """Radial speed per FFT bin (0.121 m/s at 20 kHz, 1024 points)."""
        return self.sampling_rate_hz / self.fft_size / HZ_PER_MPS

    @property
    def max_speed_mps(self) -> float:
        """Highest radial speed before the spectrum wraps (62 m/s at 20 kHz)."""
        return self.sampling_rate_hz / 2 / HZ_PER_MPS

    @property
    def frame_s(self) -> float:
        """Duration of one FFT buffer (51.2 ms at 20 kHz, 1024 points)."""
        return self.fft_size / self.sampling_rate_hz

    def bin_speeds_mps(self) -> FloatArray:
        """Radial speed at the centre of each bin, most negative (outbound) first."""
        k = np.arange(self.fft_size) - self.fft_size // 2
        return (k * self.resolution_mps).astype(np.float64)

    def bin_of(self, radial_mps: float) -> int:
        """Signed index of the bin nearest ``radial_mps`` (0 is the DC bin)."""
        return round(radial_mps / self.resolution_mps)


@dataclass(frozen=True, kw_only=True)
class RadarMount:
    """Where the radar is and where it looks, in the ground frame (x, y horizontal, z up, m).

    ``azimuth_deg`` is the boresight's direction counter-clockwise from +x; ``tilt_deg`` points
    it down. The radar frame has X along the boresight, Y to its left, Z up.
    """

    x_m: float = 0.0
    y_m: float = 0.0
    height_m: float = 1.0
    azimuth_deg: float = 0.0
    tilt_deg: float = 0.0

    def to_radar(self, points: FloatArray) -> FloatArray:
        """Ground-frame points (..., 3) in the radar frame."""
        az, tilt = math.radians(self.azimuth_deg), math.radians(self.tilt_deg)
        dx = points[..., 0] - self.x_m
        dy = points[..., 1] - self.y_m
        dz = points[..., 2] - self.height_m
        x1 = dx * math.cos(az) + dy * math.sin(az)
        y1 = -dx * math.sin(az) + dy * math.cos(az)
        out = np.empty_like(points, dtype=np.float64)
        out[..., 0] = x1 * math.cos(tilt) - dz * math.sin(tilt)
        out[..., 1] = y1
        out[..., 2] = x1 * math.sin(tilt) + dz * math.cos(tilt)
        return out

    def radial_mps(self, position: FloatArray, velocity: FloatArray) -> float:
        """Radial speed of a point moving at ``velocity`` (ground frame): positive = inbound."""
        offset = np.asarray(position, float) - (self.x_m, self.y_m, self.height_m)
        distance = float(np.linalg.norm(offset))
        if distance == 0:
            return 0.0
        return -float(np.dot(offset, velocity)) / distance


class ScattererModel(Protocol):
    """A target as point scatterers.

    ``scatterers(times)`` returns their ground-frame positions, shape (S, T, 3), at the ``T``
    absolute ``times`` (s), and their radar cross-sections in m^2, shape (S, T) or (S, 1)
    (0 where a scatterer is hidden).
    """

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]: ...


def antenna_gain(radar_points: FloatArray, sensor: SensorSettings) -> FloatArray:
    """Two-way amplitude gain of a Gaussian main lobe, with a floor for the side and back lobes."""
    x, y, z = radar_points[..., 0], radar_points[..., 1], radar_points[..., 2]
    az = np.degrees(np.arctan2(y, x))
    el = np.degrees(np.arctan2(z, np.hypot(x, y)))
    lobe = np.exp(
        -4
        * math.log(2)
        * ((az / sensor.beam_azimuth_deg) ** 2 + (el / sensor.beam_elevation_deg) ** 2)
    )
    floor = np.where(x > 0, SIDELOBE_FLOOR, BACKLOBE)
    return np.maximum(lobe, floor)


def amplitude_scale(sensor: SensorSettings) -> float:
    """``K`` of the radar equation: amplitude = K sqrt(rcs) g / R^2 (noise floor = 1)."""
    return 10 ** (sensor.snr_1m2_at_10m_db / 20) * 100.0


def received_power_db(
    rcs_m2: float, range_m: float, sensor: SensorSettings, gain: float = 1.0
) -> float:
    """Peak power (dB above the noise floor) of a steady scatterer: the radar equation."""
    amplitude = amplitude_scale(sensor) * math.sqrt(rcs_m2) * gain / max(range_m, MIN_RANGE_M) ** 2
    return 20 * math.log10(max(amplitude, 1e-12))


def contiguous_frame_ends(t_end: float, frames: int, sensor: SensorSettings) -> FloatArray:
    """End times of ``frames`` back-to-back buffers, the last ending at ``t_end``."""
    return t_end - sensor.frame_s * np.arange(frames - 1, -1, -1, dtype=np.float64)


def _coarse_times(frame_ends: FloatArray, sensor: SensorSettings) -> FloatArray:
    """(F, K+1) times of samples 0, D, 2D, ..., N of each frame (N: one past the last)."""
    n, fs = sensor.fft_size, sensor.sampling_rate_hz
    offsets = (np.arange(0, n + 1, DECIMATION) - (n - 1)) / fs
    return np.asarray(frame_ends, np.float64)[:, None] + offsets[None, :]


def _synthesise(ranges: FloatArray, amplitudes: FloatArray, n: int) -> npt.NDArray[np.complex64]:
    """Baseband samples (F, N) from coarse ranges and amplitudes (S, F, K+1).

    Within each segment of ``DECIMATION`` samples the phase is linear, so each scatterer's
    phasor is advanced by one complex multiplication per sample instead of a cos and a sin
    (relative error below 1e-6); its amplitude is held at the segment's mean (it changes by
    less than 0.3 % over a segment).
    """
    phase = (-4 * math.pi / WAVELENGTH_M) * ranges  # float64: ranges of tens of metres
    start = np.remainder(phase[..., :-1], 2 * math.pi)
    amplitude = (amplitudes[..., :-1] + amplitudes[..., 1:]) / 2
    phasor = (amplitude * np.exp(1j * start)).astype(np.complex64)
    turn = np.exp(1j * (phase[..., 1:] - phase[..., :-1]) / DECIMATION).astype(np.complex64)
    f, k = phasor.shape[1], phasor.shape[2]
    out = np.empty((f, k, DECIMATION), np.complex64)
    out[..., 0] = phasor.sum(axis=0)
    for d in range(1, DECIMATION):
        phasor *= turn
        out[..., d] = phasor.sum(axis=0)
    return out.reshape(f, n)


def received_iq(
    models: Sequence[ScattererModel],
    frame_ends: FloatArray,
    sensor: SensorSettings,
    mount: RadarMount,
    *,
    rng: np.random.Generator | None = None,
    static_clutter_db: float | None = None,
) -> npt.NDArray[np.complex64]:
    """The sensor's complex samples (F, N) for frames ending at ``frame_ends``.

    ``rng`` adds the receiver noise (floor 0 dB per bin) and the static return's phase; without
    it the signal is noiseless (tests of line positions). ``static_clutter_db`` is the power of
    the return at 0 Hz from everything that does not move.
    """
    frames = np.atleast_1d(np.asarray(frame_ends, np.float64))
    n = sensor.fft_size
    coarse = _coarse_times(frames, sensor)
    f, k1 = coarse.shape
    signal = np.zeros((f, n), np.complex64)
    scale = amplitude_scale(sensor)
    for model in models:
        positions, rcs = model.scatterers(coarse.ravel())
        if positions.shape[0] == 0:
            continue
        local = mount.to_radar(positions)
        distance = np.maximum(np.linalg.norm(local, axis=-1), MIN_RANGE_M)
        amplitude = scale * np.sqrt(np.maximum(rcs, 0.0)) * antenna_gain(local, sensor)
        amplitude = amplitude / distance**2
        s = positions.shape[0]
        signal += _synthesise(distance.reshape(s, f, k1), amplitude.reshape(s, f, k1), n)
    window = np.hanning(n)
    noise_var = float(window.sum() ** 2 / (window**2).sum())  # floor of 1 after normalising
    if rng is not None:
        sigma = np.float32(math.sqrt(noise_var / 2))
        noise = rng.standard_normal((2, f, n), dtype=np.float32) * sigma
        signal += noise[0] + 1j * noise[1]
        if static_clutter_db is not None:
            signal += np.complex64(
                10 ** (static_clutter_db / 20) * np.exp(1j * rng.uniform(0, 2 * math.pi))
            )
    elif static_clutter_db is not None:
        signal += np.complex64(10 ** (static_clutter_db / 20))
    return signal


def spectra_db(iq: npt.NDArray[np.complex64]) -> npt.NDArray[np.float32]:
    """Power spectra (F, N) in dB, most negative bin first; a tone's peak reads its power."""
    n = iq.shape[-1]
    window = np.hanning(n).astype(np.float32)
    spectrum = np.fft.fftshift(np.fft.fft(iq * window, axis=-1), axes=-1)
    power = (spectrum.real**2 + spectrum.imag**2) / float(window.sum()) ** 2
    return (10 * np.log10(power + 1e-12)).astype(np.float32)


def doppler_spectra(
    models: Sequence[ScattererModel],
    frame_ends: FloatArray,
    sensor: SensorSettings,
    mount: RadarMount,
    *,
    rng: np.random.Generator | None = None,
    static_clutter_db: float | None = None,
) -> npt.NDArray[np.float32]:
    """Spectra (F, N) in dB of the frames ending at ``frame_ends``: the spectrogram."""
    iq = received_iq(
        models, frame_ends, sensor, mount, rng=rng, static_clutter_db=static_clutter_db
    )
    return spectra_db(iq)


@dataclass(frozen=True)
class Foliage:
    """Leaves and branches swaying in the wind: scatterers oscillating about fixed points.

    Each of the ``M`` scatterers moves ``amplitude_m * sin(2 pi freq_hz t + phase)`` along its
    unit ``direction``; their radial speeds stay below ``2 pi f a`` (about 0.1-0.8 m/s).
    """

    centres: FloatArray  # (M, 3) ground frame
    directions: FloatArray  # (M, 3) unit vectors
    amplitude_m: FloatArray  # (M,)
    freq_hz: FloatArray  # (M,)
    phase: FloatArray  # (M,)
    rcs_m2: FloatArray  # (M,)

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        count: int,
        *,
        range_m: tuple[float, float] = (4.0, 30.0),
        azimuth_deg: tuple[float, float] = (-25.0, 25.0),
        mount: RadarMount | None = None,
    ) -> Foliage:
        """``count`` swaying scatterers around the boresight of ``mount``."""
        mount = mount or RadarMount()
        r = rng.uniform(*range_m, count)
        az = np.radians(mount.azimuth_deg + rng.uniform(*azimuth_deg, count))
        centres = np.stack(
            [mount.x_m + r * np.cos(az), mount.y_m + r * np.sin(az), rng.uniform(1.5, 6.0, count)],
            axis=-1,
        )
        directions = rng.normal(size=(count, 3))
        directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
        return cls(
            centres=centres,
            directions=directions,
            amplitude_m=rng.uniform(0.005, 0.05, count),
            freq_hz=rng.uniform(0.3, 2.5, count),
            phase=rng.uniform(0, 2 * math.pi, count),
            rcs_m2=10 ** rng.uniform(-2.5, -1.0, count),
        )

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        swing = self.amplitude_m[:, None] * np.sin(
            2 * math.pi * self.freq_hz[:, None] * times[None, :] + self.phase[:, None]
        )
        positions = self.centres[:, None, :] + swing[..., None] * self.directions[:, None, :]
        return positions, self.rcs_m2[:, None]
