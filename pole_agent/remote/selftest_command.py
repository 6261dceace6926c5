"""The ``selftest`` command: the installer's self-test (pole_agent/installer/selftest.py, as
``pole-agent selftest`` runs it) run inside the agent on a worker thread of its own.

The self-test takes seconds (it reads the agent through its status socket and connects to the
broker as ``spole-<id>-selftest-remote``, a session apart from the daily timer's
``spole-<id>-selftest``, to publish its report retained on ``spole/<id>/selftest``), so it
never runs on the MQTT callback thread: the command is answered ``running`` at once and its
summary follows on ``cmd/selftest/result``. One runs at a time; a request while one runs is
rejected ``busy``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pole_agent.installer.selftest import SelftestReport
from pole_agent.remote.envelope import Rejected
from pole_agent.remote.handler import CommandCall

log = logging.getLogger(__name__)

Run = Callable[[], SelftestReport]


def summary(report: SelftestReport) -> dict[str, Any]:
    """The result carried on ``cmd/selftest/result`` (the full report is on ``selftest``)."""
    return {
        "ok": report.ok,
        "ts": report.ts,
        "checks": len(report.checks),
        "failed": [c.name for c in report.checks if c.outcome == "fail"],
        "warned": [c.name for c in report.checks if c.outcome == "warn"],
        "outcomes": {c.name: c.outcome for c in report.checks},
    }


class SelftestCommand:
    """The ``selftest`` CommandAction (see the module)."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.runs = 0

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def __call__(self, call: CommandCall) -> str | None:
        if call.args:
            raise Rejected("invalid", f"args: selftest takes none, got {sorted(call.args)}")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise Rejected("busy", "a self-test is running; ask again when it has answered")
            self._thread = threading.Thread(
                target=self._work, args=(call,), name="remote-selftest", daemon=True
            )
            self._thread.start()
        return None

    def _work(self, call: CommandCall) -> None:
        try:
            report = self._run()
        except Exception as err:  # the self-test must not take the agent with it
            log.exception("remote self-test failed to run")
            call.reply("failed", f"the self-test could not run: {err}", None)
            return
        finally:
            self.runs += 1
        result = summary(report)
        failed = result["failed"]
        verdict = "PASSED" if report.ok else f"FAILED: {', '.join(failed)}"
        call.reply("ok", f"self-test {verdict} ({len(report.checks)} checks)", result)

    def join(self, timeout: float) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
