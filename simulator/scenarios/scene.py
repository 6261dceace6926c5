"""A scenario's world: its movers and its weather, on the scenario's own time.

The scenario's time 0 is ``origin`` on the pole's clock: the moment the pole's road radar first
reports, so that a boot slowed by a loaded machine never costs a scenario its first vehicle.
Before it the road is empty. Device emulators and the sighting feed ask at the pole's time; the
world answers at ``t - origin``.

Weather as the road radar sees it: rain clutter and spurious spikes on top of the movers.

A Doppler radar aimed along the road sees rain as weak echoes at low radial speeds in both
directions (drops fall nearly across the beam; the wind adds a few km/h), in many frames; spray
thrown up by a tyre, a wiper or a bird passing the antenna gives a rare, single-frame spike that
can read fast and approaching. A vehicle's echo is far stronger, so while one is in the beam it
still wins the frame. The clutter is drawn per radar frame from the scenario's seed and the frame
number, so the same scenario rains the same drops on every run.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable
from typing import Any

from simulator.radar_physics import ScattererModel
from simulator.scenarios.spec import Weather
from simulator.world import Mover, Target, Vehicle, World

FRAME_RATE_HZ = 10.0
"""The emulator's frame rate: clutter is decided once per frame."""
RAIN_ID = -1
SPIKE_ID = -2
SPIKE_SPACING = 3
"""A spike is alone: at most one in any three consecutive frames."""


class Scene(World):
    """A ``World`` on the scenario's time whose radar echoes include the weather's clutter."""

    def __init__(
        self, vehicles: Iterable[Vehicle], *, weather: Weather, seed: int, **world: Any
    ) -> None:
        super().__init__(vehicles, **world)
        self.weather = weather
        self.seed = seed
        self._spike_before = False
        self.origin = math.inf
        """The pole's clock time of the scenario's time 0 (until it is set: never)."""
        self._lock_spike = threading.Lock()

    def targets_at(self, t: float) -> list[Target]:
        """The echoes of the frame the radar measures at pole time ``t``. A spike lasts one
        frame: when the emulator skips frames (a stall of a loaded machine) or measures twice
        in one tenth of a second, the frame after a spike never has one too."""
        t -= self.origin
        if t < 0:
            return []
        clutter = self.clutter_at(t)
        with self._lock_spike:
            if self._spike_before:
                clutter = [echo for echo in clutter if echo.vehicle_id != SPIKE_ID]
            self._spike_before = any(echo.vehicle_id == SPIKE_ID for echo in clutter)
        targets = super().targets_at(t) + clutter
        targets.sort(key=lambda target: target.magnitude, reverse=True)
        return targets

    def scatterer_models_at(self, t: float) -> list[tuple[Mover, ScattererModel]]:
        t -= self.origin
        return [] if t < 0 else super().scatterer_models_at(t)

    def clutter_at(self, t: float) -> list[Target]:
        """The clutter echoes of the radar frame that contains scenario time ``t``."""
        weather = self.weather
        frame = math.floor(t * FRAME_RATE_HZ)
        rng = random.Random(self.seed * 1_000_003 + frame)
        echoes = []
        if rng.random() < weather.rain_share:
            echoes.append(
                Target(
                    vehicle_id=RAIN_ID,
                    radial_kmh=rng.gauss(0.0, weather.rain_speed_sd_kmh),
                    magnitude=rng.uniform(*weather.rain_magnitude),
                    range_m=rng.uniform(2.0, 20.0),
                )
            )
        if weather.spike_every_s is not None and frame % SPIKE_SPACING == 0:
            bucket = random.Random(self.seed * 7_000_003 + frame)
            chance = SPIKE_SPACING / (weather.spike_every_s * FRAME_RATE_HZ)
            if bucket.random() < chance:
                echoes.append(
                    Target(
                        vehicle_id=SPIKE_ID,
                        radial_kmh=bucket.uniform(*weather.spike_kmh),
                        magnitude=bucket.uniform(20.0, 60.0),
                        range_m=bucket.uniform(2.0, 10.0),
                    )
                )
        return echoes
