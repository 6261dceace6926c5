"""Spectrum frames to model windows: hop, crop, fill, scale, and restarts on gaps, cadence and
wrong settings (pole_agent/perception/spectrum_window.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from pole_agent.perception.radar_model import InputSpec
from pole_agent.perception.spectrum_window import SpectrumWindower
from tests.model.helpers import frames_of

SPEC = InputSpec(
    sampling_rate_hz=20000, fft_size=64, carrier_hz=24.125e9, frames=4, band=(-8, 8),
    hop_frames=2, db0=-20.0, step_db=0.5, fill_db=0.0,
)  # fmt: skip


def _codes(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (count, SPEC.bins), dtype=np.uint8)


def test_windows_come_every_hop_once_full_oldest_first() -> None:
    codes = _codes(10)
    windower = SpectrumWindower(SPEC)
    got = [
        (i, w) for i, f in enumerate(frames_of(codes, SPEC)) if (w := windower.push(f)) is not None
    ]
    assert [i for i, _ in got] == [3, 5, 7, 9]
    for i, window in got:
        assert np.array_equal(window, codes[i - 3 : i + 1])
    assert windower.counts["windows"] == 4 and windower.counts["frames"] == 10


def test_band_mode_bins_not_sent_hold_the_fill_value() -> None:
    codes = _codes(4)
    windower = SpectrumWindower(SPEC)
    window = None
    for frame in frames_of(codes, SPEC, runs=((-4, 8),)):
        window = windower.push(frame)
    assert window is not None
    fill = round((SPEC.fill_db - SPEC.db0) / SPEC.step_db)
    assert np.array_equal(window[:, 4:12], codes[:, 4:12])
    assert (window[:, :4] == fill).all() and (window[:, 12:] == fill).all()


def test_another_db_scale_is_converted_to_the_models() -> None:
    codes = np.full((4, SPEC.bins), 100, np.uint8)  # 30 dB on the model's scale
    frames = [
        dataclasses.replace(f, db0=-10.0, step_db=1.0, codes=np.full_like(f.codes, 40))
        for f in frames_of(codes, SPEC)
    ]
    windower = SpectrumWindower(SPEC)
    windows = [w for f in frames if (w := windower.push(f)) is not None]
    assert len(windows) == 1 and (windows[0] == 100).all()


def test_a_lost_frame_restarts_the_window() -> None:
    frames = frames_of(_codes(12), SPEC)
    del frames[5]
    windower = SpectrumWindower(SPEC)
    due = [i for i, f in enumerate(frames) if windower.push(f) is not None]
    # 0-3 full at index 3; the gap at index 5 restarts: 5..8 full again at index 8, then hop
    assert due == [3, 8, 10]
    assert windower.counts["gap"] == 1


def test_frames_not_back_to_back_are_refused_and_counted() -> None:
    frames = [
        dataclasses.replace(f, uptime_s=10.0 + 0.1 * i)  # 10 frames/s, not one per 3.2 ms
        for i, f in enumerate(frames_of(_codes(12), SPEC))
    ]
    windower = SpectrumWindower(SPEC)
    assert all(windower.push(f) is None for f in frames)
    assert windower.counts["cadence"] == 11 and windower.counts["windows"] == 0


def test_frames_of_other_settings_are_refused_and_counted() -> None:
    frames = [dataclasses.replace(f, sampling_rate_hz=10000) for f in frames_of(_codes(6), SPEC)]
    windower = SpectrumWindower(SPEC)
    assert all(windower.push(f) is None for f in frames)
    assert windower.counts["settings"] == 6


def test_sequence_numbers_wrap_without_a_restart() -> None:
    frames = frames_of(_codes(6), SPEC, seq0=65533)
    windower = SpectrumWindower(SPEC)
    assert sum(windower.push(f) is not None for f in frames) == 2
    assert windower.counts["gap"] == 0
