"""The small interfaces between the agent's stages, by role.

Each port is what the pure core needs from the world; drivers at the edges implement them and
tests drive fakes that record what happened. Keep each one to a handful of methods.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


class Clock(Protocol):
    """Time, handed in from app wiring.

    ``monotonic`` never goes backwards and is what durations are measured on; ``wall`` is an
    aware UTC datetime used only for timestamps that leave the pole; ``sleep`` waits for a
    duration on this clock's own timeline.
    """

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...

    @property
    def factor(self) -> float: ...


class BeaconOutput(Protocol):
    """The flashing warning beacons.

    ``activate`` must light the beacons before it returns (it is on the warning path) and keep
    them flashing until ``deactivate``; both are idempotent. ``close`` leaves the pins off.
    """

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...

    @property
    def active(self) -> bool: ...

    def close(self) -> None: ...


class Publisher(Protocol):
    """Delivers telemetry messages to the city.

    ``publish`` never blocks on the network: it hands the message to a queue that delivers it
    at least once when a link exists. ``link_state`` is a short human word ("connected",
    "connecting", "disabled", ...) for status displays.
    """

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None: ...

    def link_state(self) -> str: ...


LineHandler = Callable[[bytes, float], None]
"""Called by a radar line source with each raw line (terminator stripped) and its arrival time
on the agent's monotonic clock."""


# -- warnings: detections in, outputs out (docs/warnings.md) -----------------------------------

PedestrianKind = Literal["child", "adult", "unknown"]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


@dataclass(frozen=True, slots=True)
class PedestrianSeen:
    """A pedestrian at the kerb or on the crosswalk, seen at monotonic time ``t``.

    ``track_id`` is the source's id for this person (the same while it follows them), so that
    repeated reports of one child make one warning.
    """

    t: float
    kind: PedestrianKind
    where: Literal["kerb", "crosswalk"] = "kerb"
    range_m: float | None = None
    source: str = ""
    track_id: int = 0

    def __post_init__(self) -> None:
        _check(math.isfinite(self.t), f"t must be finite, got {self.t}")
        _check(self.kind in ("child", "adult", "unknown"), f"unknown kind {self.kind!r}")
        _check(self.where in ("kerb", "crosswalk"), f"unknown place {self.where!r}")
        _check(
            self.range_m is None or (math.isfinite(self.range_m) and self.range_m >= 0),
            f"range_m must be a distance, got {self.range_m}",
        )


@dataclass(frozen=True, slots=True)
class VehicleApproaching:
    """A vehicle approaching the crossing at ``speed_kmh``, arriving in ``arrival_s`` seconds
    from ``t`` (None when the source cannot tell: no range)."""

    t: float
    speed_kmh: float
    arrival_s: float | None = None
    range_m: float | None = None
    source: str = ""
    track_id: int = 0

    def __post_init__(self) -> None:
        _check(math.isfinite(self.t), f"t must be finite, got {self.t}")
        _check(
            math.isfinite(self.speed_kmh) and self.speed_kmh >= 0,
            f"speed_kmh must be >= 0, got {self.speed_kmh}",
        )
        for name in ("arrival_s", "range_m"):
            value = getattr(self, name)
            _check(
                value is None or (math.isfinite(value) and value >= 0),
                f"{name} must be >= 0, got {value}",
            )


class Detections(Protocol):
    """Where perception (the radar model, the camera, the simulator) reports what the warning
    rules need. Both calls return at once (they may light outputs before returning, never block
    on I/O) and may be made from any thread."""

    def pedestrian(self, seen: PedestrianSeen) -> None: ...

    def vehicle(self, approaching: VehicleApproaching) -> None: ...


class SignOutput(Protocol):
    """The sign's preset messages: ``show`` selects one by name (None: no message); the switch
    is break-before-make, so two messages are never selected at once."""

    def show(self, message: str | None) -> None: ...

    def close(self) -> None: ...


class SpeedDisplay(Protocol):
    """The "your speed" digits: ``show`` a whole km/h value, or None to blank them."""

    def show(self, kmh: int | None) -> None: ...

    def close(self) -> None: ...


class VoiceOutput(Protocol):
    """The speaker. ``play`` queues clips at a volume (0..1) and returns at once: False when
    nothing was queued (busy, unknown clip, player off). Playback runs in its own thread."""

    def play(self, clips: tuple[str, ...], volume: float, reason: str) -> bool: ...

    def close(self) -> None: ...


class WarningHook(Protocol):
    """The warning outputs' hook on the radar reader's thread: ``refresh(now)`` after every
    frame and tick sets every output to what the warning decisions say (warning_outputs.py).
    It never blocks and never raises."""

    def refresh(self, now: float) -> None: ...
