"""The emulated OPS243's spectrum output: its commands, and one line per frame from the physics.

Commands (two characters, no terminator; each answers with a JSON echo like the other ``O``
toggles). ``OF`` is the vendor's "FFT output on"; the band form and the line format are the
project's (docs/radar_physics.md):

- ``OF``: spectrum on, every bin (``F`` lines): for USB, where the baud rate does not limit;
- ``OB``: spectrum on, a reduced band (``B`` lines): for a UART at 230400 baud;
- ``Of`` / ``Ob``: spectrum off (the power-on default; ``A!`` does not save it).

A spectrum line follows each frame's report lines; ``Os`` (speed reports off) leaves only the
spectrum. The band sent in ``B`` mode is the bins around 0 Hz where people move (``base_bins``
each side) plus up to ``extra_runs`` runs of ``extra_bins`` around the strongest lines outside
it (vehicles), so a frame stays within the UART's budget (``BandPolicy.max_bins``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from pole_agent.perception.spectrum import encode_spectrum, frame_from_db
from simulator.radar_physics import Foliage, SensorSettings, doppler_spectra
from simulator.world import World

SpectrumMode = Literal["off", "full", "band"]
LINE_END: Final = b"\r\n"
SPECTRUM_ECHOES: Final[dict[str, tuple[SpectrumMode, bytes]]] = {
    "OF": ("full", b'{"OutputFeature":"F"}'),
    "OB": ("band", b'{"OutputFeature":"B"}'),
    "Of": ("off", b'{"OutputFeature":"f"}'),
    "Ob": ("off", b'{"OutputFeature":"b"}'),
}


@dataclass(frozen=True, kw_only=True)
class BandPolicy:
    """Which bins a ``B`` frame carries."""

    base_bins: int = 128
    """Bins each side of 0 Hz always sent (+-15.5 m/s at 20 kHz: every pedestrian)."""
    extra_runs: int = 2
    extra_bins: int = 48
    threshold_db: float = 12.0
    """A line outside the base band earns a run when it stands this far above the median."""

    @property
    def max_bins(self) -> int:
        return 2 * self.base_bins + self.extra_runs * self.extra_bins


def choose_runs(
    spectrum_db: npt.NDArray[np.float32], policy: BandPolicy
) -> tuple[tuple[int, int], ...]:
    """The runs (signed start bin, count) of a band frame, ascending and disjoint."""
    n = spectrum_db.shape[0]
    half = n // 2
    base = min(policy.base_bins, half)
    taken = np.zeros(n, dtype=bool)
    taken[half - base : half + base] = True
    floor = float(np.median(spectrum_db))
    power = np.where(taken, -np.inf, spectrum_db)
    for _ in range(policy.extra_runs):
        peak = int(np.argmax(power))
        if not power[peak] > floor + policy.threshold_db:
            break
        lo = min(max(0, peak - policy.extra_bins // 2), n - policy.extra_bins)
        taken[lo : lo + policy.extra_bins] = True
        power[lo : lo + policy.extra_bins] = -np.inf
    edges = np.flatnonzero(np.diff(np.concatenate([[0], taken.astype(np.int8), [0]])))
    return tuple(
        (int(start) - half, int(stop - start))
        for start, stop in zip(edges[::2], edges[1::2], strict=True)
    )


class SpectrumSource:
    """Spectrum settings of one emulated sensor and the lines they produce; thread-safe."""

    def __init__(
        self,
        world: World,
        *,
        seed: int = 0,
        static_clutter_db: float = 40.0,
        foliage: int = 3,
        policy: BandPolicy | None = None,
        encoding: Literal["B", "H"] = "B",
    ) -> None:
        self.world = world
        self.policy = policy or BandPolicy()
        self.encoding: Literal["B", "H"] = encoding
        self.static_clutter_db = static_clutter_db
        self._rng = np.random.default_rng(seed)
        self._foliage = Foliage.random(np.random.default_rng([seed, 1]), foliage, mount=world.mount)
        self._lock = threading.Lock()
        self._mode: SpectrumMode = "off"
        self._seq = 0
        self.lines_made = 0

    @property
    def mode(self) -> SpectrumMode:
        with self._lock:
            return self._mode

    def reset(self) -> None:
        """Power cycle: spectrum output off (it is not kept in flash)."""
        with self._lock:
            self._mode = "off"

    def command(self, command: str) -> list[bytes] | None:
        """The echo lines of a spectrum command, or None when ``command`` is not one."""
        entry = SPECTRUM_ECHOES.get(command[:2]) if len(command) == 2 else None
        if entry is None:
            return None
        with self._lock:
            self._mode = entry[0]
        return [entry[1] + LINE_END]

    def spectrum_db(
        self, t: float, sampling_rate_hz: int, fft_size: int = 1024
    ) -> npt.NDArray[np.float32]:
        """The power spectrum (dB, most negative bin first) of the buffer ending at ``t``."""
        sensor = SensorSettings(
            sampling_rate_hz=sampling_rate_hz,
            fft_size=fft_size,
            beam_azimuth_deg=self.world.sensor.beam_azimuth_deg,
            beam_elevation_deg=self.world.sensor.beam_elevation_deg,
            snr_1m2_at_10m_db=self.world.sensor.snr_1m2_at_10m_db,
        )
        models = [model for _, model in self.world.scatterer_models_at(t)]
        with self._lock:
            rng = np.random.default_rng(self._rng.integers(2**63))
        spectra = doppler_spectra(
            [*models, self._foliage],
            np.array([t]),
            sensor,
            self.world.mount,
            rng=rng,
            static_clutter_db=self.static_clutter_db,
        )
        first: npt.NDArray[np.float32] = spectra[0]
        return first

    def line_at(self, t: float, uptime_s: float, sampling_rate_hz: int) -> bytes | None:
        """The spectrum line for the frame ending at simulated time ``t`` (with ``\\r\\n``),
        or None while the output is off."""
        mode = self.mode
        if mode == "off":
            return None
        spectrum = self.spectrum_db(t, sampling_rate_hz)
        runs = choose_runs(spectrum, self.policy) if mode == "band" else None
        with self._lock:
            seq = self._seq
            self._seq = (self._seq + 1) % 65536
            self.lines_made += 1
        frame = frame_from_db(
            spectrum,
            seq=seq,
            uptime_s=max(0.0, uptime_s),
            sampling_rate_hz=sampling_rate_hz,
            runs=runs,
            encoding=self.encoding,
        )
        return encode_spectrum(frame) + LINE_END
