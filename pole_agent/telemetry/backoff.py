"""Capped, jittered exponential backoff for reconnecting (pure: the random source is given).

Wait ``n`` (from 0) is drawn from ``[d/2, d]`` with ``d = min(max_s, min_s * 2**n)``: it grows
quickly to the cap, never hammers a broker that refuses, and the random half spreads a fleet's
reconnects after a broker restart ("equal jitter": a wait is never shorter than half its step).
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"backoff needs 0 < min_s <= max_s, got {min_s}, {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call moves one step up."""
        step = min(self.max_s, self.min_s * 2.0 ** min(self.attempt, 60))
        self.attempt += 1
        return step / 2 + self._rng.random() * step / 2

    def reset(self) -> None:
        """A connection succeeded: the next loss starts from the first step again."""
        self.attempt = 0
