"""The telemetry timer: rolls the statistics window and publishes the health report on the
agent's clock (so a simulated hour of a scaled clock has its four stats windows).

It runs in its own thread and only makes messages (the publisher queues them); at a clean stop
the open statistics window is published cut short, so no counted vehicle is left out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.ports import Clock
from pole_agent.telemetry.reporter import Reporter

log = logging.getLogger(__name__)

STEP_S = 1.0
"""How often (on the agent's clock) the timer looks at the windows."""
MIN_REAL_STEP_S = 0.01


class TelemetryTimer:
    def __init__(
        self,
        *,
        clock: Clock,
        reporter: Reporter,
        zone: Callable[[], ZoneState],
        health_fields: Callable[[], dict[str, Any]],
        health_interval_s: float,
    ) -> None:
        self._clock = clock
        self._reporter = reporter
        self._zone = zone
        self._health_fields = health_fields
        self._health_interval = health_interval_s
        self._next_health = clock.monotonic() + health_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry-timer", daemon=True)
        self.health_reports = 0

    def start(self) -> None:
        self._next_health = self._clock.monotonic() + self._health_interval
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        try:
            self._reporter.close_stats()
        except Exception:
            log.exception("could not publish the last statistics window")

    def tick(self) -> None:
        """One look at the windows (the thread calls it; tests may call it directly)."""
        self._reporter.roll_stats(self._zone())
        now = self._clock.monotonic()
        if now >= self._next_health:
            self._next_health = max(self._next_health + self._health_interval, now)
            self.publish_health()

    def publish_health(self) -> None:
        self._reporter.health(**self._health_fields())
        self.health_reports += 1

    def _run(self) -> None:
        real_step = max(MIN_REAL_STEP_S, STEP_S / self._clock.factor)
        while not self._stop.wait(real_step):
            try:
                self.tick()
            except Exception:  # the timer must keep going: a bad gauge is not a reason to stop
                log.exception("telemetry timer tick failed")
