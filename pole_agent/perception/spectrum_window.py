"""Spectrum frames to the model's windows: back-to-back frames, cropped, on the model's scale.

Pure: one ``push`` per decoded spectrum frame, in arrival order. A window is the last
``spec.frames`` frames, given every ``spec.hop_frames`` frames once the first is full. The model
learnt a gait's rhythm on back-to-back frames, so the run of frames restarts (and the reason is
counted) when:

- ``settings``: the frame's sampling rate or FFT size is not the model's;
- ``gap``: frames were lost (a sequence jump beyond ``spec.max_gap_frames``) or repeated;
- ``cadence``: the sensor time between two frames is not the frame period (``fft_size /
  sampling_rate_hz``, within ``spec.cadence_tolerance``): a sensor that does not send every
  frame (a slower output rate) gives spectra the model was not trained on.

Each frame's bins ``band`` are taken with ``SpectrumFrame.band_db`` (bins a band-mode line did
not send hold ``spec.fill_db``) and quantised on the model's ``db0``/``step_db`` scale, so a
sensor sending another scale is converted, not misread.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import InputSpec
from pole_agent.perception.spectrum import SpectrumFrame, quantise_db


class SpectrumWindower:
    """Collects frames into windows (see the module docstring). Not thread-safe."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self._rows = np.zeros((spec.frames, spec.bins), np.uint8)
        self._next = 0
        self._filled = 0
        self._since = 0
        self._fresh = True
        self._last: tuple[int, float] | None = None
        self.counts: Counter[str] = Counter()
        """frames, windows, and restarts by reason: settings, gap, cadence."""

    def reset(self) -> None:
        self._filled = 0
        self._since = 0
        self._fresh = True
        self._last = None

    def _restart(self, reason: str) -> None:
        self.counts[reason] += 1
        self._filled = 0
        self._since = 0
        self._fresh = True

    def push(self, frame: SpectrumFrame) -> npt.NDArray[np.uint8] | None:
        """Add one frame; returns a window (frames, bins), oldest frame first, when one is due."""
        spec = self.spec
        self.counts["frames"] += 1
        if frame.sampling_rate_hz != spec.sampling_rate_hz or frame.fft_size != spec.fft_size:
            self._restart("settings")
            self._last = None
            return None
        if self._last is not None:
            last_seq, last_t = self._last
            step = (frame.seq - last_seq) % 65536
            period = spec.frame_s * step
            if step == 0 or step - 1 > spec.max_gap_frames:
                self._restart("gap")
            elif abs((frame.uptime_s - last_t) - period) > spec.cadence_tolerance * spec.frame_s:
                self._restart("cadence")
        self._last = (frame.seq, frame.uptime_s)
        row = frame.band_db(spec.band[0], spec.band[1], spec.fill_db)
        self._rows[self._next] = quantise_db(row, spec.db0, spec.step_db)
        self._next = (self._next + 1) % spec.frames
        self._filled = min(self._filled + 1, spec.frames)
        self._since += 1
        if self._filled < spec.frames or (not self._fresh and self._since < spec.hop_frames):
            return None
        self._fresh = False
        self._since = 0
        self.counts["windows"] += 1
        return np.roll(self._rows, -self._next, axis=0)
