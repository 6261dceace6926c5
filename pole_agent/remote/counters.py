"""The remote counters of the health report (``remote`` in docs/mqtt.md): messages rejected by
reason, configs applied and rolled back, commands run and failed. They count since the state
directory was created: an applied config rebuilds the agent, so counts of one agent object alone
would always read 0 applied. Kept in the store at most every ``COUNTERS_EVERY_S`` and at a clean
stop, so a flood of bad messages costs the SD card one write per period; a crash loses at most
that much counting."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from pole_agent.ports import Clock
from pole_agent.remote.store import RemoteStore

log = logging.getLogger(__name__)

COUNTERS_EVERY_S = 30.0
_TOTALS = ("applied", "rolled_back", "commands_run", "commands_failed")


class RemoteCounters:
    def __init__(self, store: RemoteStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        saved = store.counters
        rejected = saved.get("rejected")
        self.rejected: Counter[str] = Counter(
            {str(k): v for k, v in rejected.items() if isinstance(v, int) and v >= 0}
            if isinstance(rejected, dict)
            else {}
        )
        totals = {key: saved.get(key) for key in _TOTALS}
        self.applied, self.rolled_back, self.commands_run, self.commands_failed = (
            value if isinstance(value, int) and value >= 0 else 0 for value in totals.values()
        )
        self._saved = self.as_dict()
        self._saved_at = float("-inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": self.rejected.total(),
            "applied": self.applied,
            "rolled_back": self.rolled_back,
            "commands_run": self.commands_run,
            "commands_failed": self.commands_failed,
        }

    def save(self, *, force: bool = False) -> None:
        """Keep them when they changed, at most every COUNTERS_EVERY_S (``force``: now)."""
        now = self._clock.monotonic()
        counters = self.as_dict()
        if counters == self._saved:
            return
        if not force and now - self._saved_at < COUNTERS_EVERY_S:
            return
        try:
            self._store.save_counters(counters)
        except OSError as err:  # counting must never stop the agent
            log.error("remote counters not saved: %s", err)
            return
        self._saved, self._saved_at = counters, now
