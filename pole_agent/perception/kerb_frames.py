"""The kerb radar's frames: counted, kept briefly, and offered to pedestrian perception.

The kerb radar looks at the crosswalk, so its targets are people. Decisions about children come
later (the micro-Doppler model issue); until then this is the port they will read: every speed
frame and spectrum line the kerb radar sends is counted and handed to subscribers, and the last
few are kept for status views. Nothing here feeds vehicle transits or beacons.

Runs in the kerb radar's reader thread; subscribers must be quick and must not raise (an
exception is logged and counted, and the frame goes on to the others).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Protocol

from pole_agent.perception.radar_lines import (
    NoTarget,
    ParsedLine,
    RangeFrame,
    Rejected,
    SpectrumLine,
    SpeedFrame,
)

log = logging.getLogger(__name__)

KerbFrame = SpeedFrame | RangeFrame | SpectrumLine
FrameHandler = Callable[[KerbFrame], None]


class PedestrianFrames(Protocol):
    """What pedestrian perception reads from a kerb radar.

    ``subscribe`` registers a handler called (in the radar's thread) with each speed, range or
    spectrum frame as it arrives; ``recent`` returns the last frames kept, oldest first.
    """

    def subscribe(self, handler: FrameHandler) -> None: ...

    def recent(self) -> list[KerbFrame]: ...


class KerbFrames:
    """Counts and fans out a kerb radar's frames (implements ``PedestrianFrames``)."""

    def __init__(self, keep: int = 200) -> None:
        self._lock = threading.Lock()
        self._recent: deque[KerbFrame] = deque(maxlen=keep)
        self._handlers: list[FrameHandler] = []
        self.counts: Counter[str] = Counter()
        """Lines by kind: speed, range, spectrum, no_target, info, rejected, handler_errors."""

    def subscribe(self, handler: FrameHandler) -> None:
        with self._lock:
            self._handlers.append(handler)

    def recent(self) -> list[KerbFrame]:
        with self._lock:
            return list(self._recent)

    def on_parsed(self, parsed: ParsedLine) -> None:
        if isinstance(parsed, SpeedFrame):
            kind = "speed"
        elif isinstance(parsed, RangeFrame):
            kind = "range"
        elif isinstance(parsed, SpectrumLine):
            kind = "spectrum"
        else:
            if isinstance(parsed, NoTarget):
                self.counts["no_target"] += 1
            elif isinstance(parsed, Rejected):
                self.counts["rejected"] += 1
            else:
                self.counts["info"] += 1
            return
        self.counts[kind] += 1
        with self._lock:
            self._recent.append(parsed)
            handlers = list(self._handlers)
        for handler in handlers:
            try:
                handler(parsed)
            except Exception:
                self.counts["handler_errors"] += 1
                log.exception("kerb frame handler failed")

    def on_tick(self, now: float) -> None:
        """Nothing is timed here yet; the driver's ticks keep the same shape as the road's."""
