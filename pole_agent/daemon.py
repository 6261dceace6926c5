"""Running the agent as a daemon: signals, the periodic status log line, a clean stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from pole_agent.app import Agent

log = logging.getLogger(__name__)

STATUS_LOG_EVERY_S = 60.0


def status_line(agent: Agent) -> str:
    """One line saying what the agent is doing: for logs and the non-terminal demo."""
    pipeline = agent.pipeline
    zone = pipeline.zone
    return (
        f"radar={agent.radar.stats.state} zone={'active' if zone.active else 'off-hours'} "
        f"limit={zone.limit_kmh:g} transits={pipeline.transits_reported} "
        f"warnings={pipeline.warnings_given} beacons={'on' if agent.beacons.active else 'off'} "
        f"rejected_lines={pipeline.rejected.total()} broker={agent.publisher.link_state()} "
        f"queued={len(agent.outbox)} dropped={agent.outbox.dropped}"
    )


def install_stop_signals(stop: threading.Event) -> dict[int, str]:
    """SIGTERM and SIGINT set ``stop``; returns a dict that records which signal arrived."""
    received: dict[int, str] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        received[signum] = signal.Signals(signum).name
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return received


def run_until_stopped(agent: Agent, stop: threading.Event, duration_s: float | None) -> str:
    """Start the agent, log its status every minute, stop it on ``stop`` or after
    ``duration_s`` (real seconds); returns the stop reason."""
    agent.start()
    reason = "duration elapsed"
    waited = 0.0
    try:
        while True:
            step = STATUS_LOG_EVERY_S
            if duration_s is not None:
                step = min(step, max(0.0, duration_s - waited))
            if stop.wait(step):
                reason = "signal"
                break
            waited += step
            if duration_s is not None and waited >= duration_s:
                break
            log.info("status %s", status_line(agent))
    finally:
        agent.stop(reason)
    return reason
