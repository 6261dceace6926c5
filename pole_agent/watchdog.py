"""When to tell systemd "still alive" (``WATCHDOG=1``): only while the warning path works.

The radar reader thread ticks the pipeline every ~50 ms whatever the sensor does (also while the
port is unplugged and being retried), so a tick counter that stops moving means that thread is
stuck or dead: no line is read, no transit ends, no beacon is put out. Then the pings stop and
systemd's ``WatchdogSec`` kills and restarts the agent. The pings are sent from the daemon's main
loop, so a stuck main loop (or a frozen process) stops them too.

A radar that is gone is *not* a watchdog failure: the agent keeps running in its fail-safe mode and
reports the fault; restarting it would not bring the radar back.

Pure logic: the caller passes the time (a monotonic reading, real seconds, since systemd measures
the watchdog in real time) and a callable that reads the tick counter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

#: The reader thread ticks every ~50 ms: this long without a tick is a stuck pipeline.
DEFAULT_STALL_S = 5.0
#: The verdict is taken at least this often, so pings stop soon after a stall begins.
MAX_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    reason: str


class PipelineWatchdog:
    """Healthy while the pipeline's tick counter advanced within the last ``stall_after_s``."""

    def __init__(self, ticks: Callable[[], int], *, stall_after_s: float, now: float) -> None:
        if stall_after_s <= 0:
            raise ValueError(f"stall_after_s must be positive, got {stall_after_s}")
        self._ticks = ticks
        self._stall_after_s = stall_after_s
        self._last_count = ticks()
        self._last_change = now

    def check(self, now: float) -> Verdict:
        count = self._ticks()
        if count != self._last_count:
            self._last_count = count
            self._last_change = now
        still = now - self._last_change
        if still > self._stall_after_s:
            return Verdict(False, f"pipeline stuck: no tick for {still:.1f} s")
        return Verdict(True, "pipeline ticking")


class WatchdogSink(Protocol):
    """Where pings go (a SystemdNotifier)."""

    def watchdog(self) -> bool: ...


class WatchdogPinger:
    """Sends ``WATCHDOG=1`` every half interval while the watchdog's verdict is healthy.

    Call ``step(now)`` at or after ``next_wake``: it takes a verdict at least every
    ``min(MAX_CHECK_S, interval / 2)``, and pings when a ping is due and the verdict is healthy,
    so after a stall begins the last ping is at most ``stall_after_s`` plus one check late.
    """

    def __init__(
        self,
        watchdog: PipelineWatchdog,
        sink: WatchdogSink,
        *,
        interval_s: float,
        now: float,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._watchdog = watchdog
        self._sink = sink
        self.ping_every_s = interval_s / 2
        self.check_every_s = min(MAX_CHECK_S, self.ping_every_s)
        self._next_ping = now
        self.next_wake = now
        self.verdict = Verdict(True, "starting")
        self.pings = 0
        self.withheld = 0

    def step(self, now: float) -> Verdict | None:
        """Take a verdict if one is due; returns it when it changed (for the status text)."""
        if now < self.next_wake:
            return None
        verdict = self._watchdog.check(now)
        changed = verdict.healthy != self.verdict.healthy
        self.verdict = verdict
        if now >= self._next_ping:
            if verdict.healthy:
                self._sink.watchdog()
                self.pings += 1
                # Anchored, so late wake-ups do not stretch the interval; after a long freeze
                # the schedule starts again from now instead of sending a burst.
                self._next_ping += self.ping_every_s
                if self._next_ping <= now:
                    self._next_ping = now + self.ping_every_s
            else:
                self.withheld += 1
        if changed:
            if verdict.healthy:
                log.info("watchdog: pings resumed (%s)", verdict.reason)
            else:
                log.error(
                    "watchdog: pings withheld, systemd will restart the agent: %s", verdict.reason
                )
        self.next_wake = min(now + self.check_every_s, max(self._next_ping, now))
        if self.next_wake <= now:  # a ping is due but withheld: check again in a while
            self.next_wake = now + self.check_every_s
        return verdict if changed else None
