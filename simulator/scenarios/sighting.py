"""Who the pole's pedestrian sensing sees: the world's people at the kerb or on the crosswalk,
except those a parked vehicle hides.

This stands in for the pedestrian perception (the kerb radar's model or the camera) so that a
scenario's child warnings follow from where its children are, not from how well a model works
today (docs/radar_model.md has the model's own figures). A person is seen when on the footway
within ``kerb_band_m`` of the kerb, or on the crosswalk, and when the straight line from the
pole (the origin) to them crosses no parked vehicle's box. Reports go to the agent's Detections
port, as the real perception's do.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterable, Sequence
from typing import Literal

from pole_agent.ports import Clock, Detections, PedestrianSeen
from simulator.pedestrians import Pedestrian, RoadLayout
from simulator.scenarios.scene import Scene
from simulator.scenarios.spec import ParkedVehicle

SOURCE = "simulator-sighting"


def hidden_by(box: ParkedVehicle, x: float, y: float) -> bool:
    """Whether the segment from the pole (0, 0) to (x, y) passes through ``box`` (slab test)."""
    low, high = 0.0, 1.0
    for d, (lo, hi) in ((x, box.x_m), (y, box.y_m)):
        if d == 0.0:
            if not lo <= 0.0 <= hi:
                return False
            continue
        a, b = sorted((lo / d, hi / d))
        low, high = max(low, a), min(high, b)
        if low > high:
            return False
    return True


def sighting(
    person: Pedestrian,
    t: float,
    layout: RoadLayout,
    parked: Sequence[ParkedVehicle] = (),
    kerb_band_m: float = 1.0,
) -> PedestrianSeen | None:
    """What the sensing reports of ``person`` at ``t``, or None (elsewhere, or hidden)."""
    if not person.present(t):
        return None
    x, y = person.position(t)
    where: Literal["kerb", "crosswalk"]
    if layout.kerb_y_m <= y <= layout.kerb_y_m + kerb_band_m:
        where = "kerb"
    elif (
        abs(x - layout.crosswalk_x_m) <= layout.crosswalk_width_m / 2
        and layout.far_kerb_y_m <= y < layout.kerb_y_m
    ):
        where = "crosswalk"
    else:
        return None
    if any(hidden_by(box, x, y) for box in parked):
        return None
    return PedestrianSeen(
        t=t,
        kind=person.age_group,
        where=where,
        range_m=round(math.hypot(x, y), 2),
        source=SOURCE,
        track_id=person.pedestrian_id,
    )


class SightingFeed:
    """A thread that looks every ``period_s`` simulated seconds and reports what it sees (at the
    scene's time; the reports are stamped with the pole's clock, as a sensor's are)."""

    def __init__(
        self,
        world: Scene,
        clock: Clock,
        port: Detections,
        parked: Iterable[ParkedVehicle] = (),
        period_s: float = 0.1,
    ) -> None:
        self._world, self._clock, self._port = world, clock, port
        self._parked = tuple(parked)
        self._period_s = period_s
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._look, name="sighting-feed", daemon=True)
        self.seen: list[PedestrianSeen] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _look(self) -> None:
        layout = self._world.layout
        while not self._halt.is_set():
            now = self._clock.monotonic()
            for person in self._world.pedestrians():
                report = sighting(person, now - self._world.origin, layout, self._parked)
                if report is not None:
                    report = dataclasses.replace(report, t=now)
                    self.seen.append(report)
                    self._port.pedestrian(report)
            self._clock.sleep(self._period_s)
