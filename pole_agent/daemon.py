"""Running the agent as a daemon: signals, the periodic status log line, a clean stop, and the
systemd notify protocol (READY once started, WATCHDOG while the pipeline ticks, STATUS, STOPPING).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from pole_agent import __version__
from pole_agent.app import Agent
from pole_agent.clock import SystemClock
from pole_agent.ports import Clock
from pole_agent.systemd_notify import SystemdNotifier
from pole_agent.watchdog import DEFAULT_STALL_S, PipelineWatchdog, WatchdogPinger

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
    """SIGTERM and SIGINT set ``stop`` at once, whichever thread the kernel hands them to
    (``wake_on_stop_signals``); returns a dict that records which signal arrived. Once per
    process: the wake-up fd is the process's."""
    received: dict[int, str] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        received[signum] = signal.Signals(signum).name
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    wake_on_stop_signals(stop)
    return received


def wake_on_stop_signals(stop: threading.Event) -> None:
    """Set ``stop`` as soon as SIGTERM or SIGINT arrives, whichever thread the kernel gave it to.

    CPython runs a signal's Python handler in the main thread only, and a main thread blocked in
    ``stop.wait()`` is woken only if the signal was delivered to it: delivered to one of the
    agent's other threads, it waited until its timeout (up to a minute), so a SIGTERM right after
    a rebuild could go unanswered for 60 s. The C-level handler writes the signal's number to the
    wake-up fd at once, in any thread; a thread reading it sets ``stop``, and the main thread,
    woken, runs the Python handler (which records the signal)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    wanted = {int(signal.SIGTERM), int(signal.SIGINT)}

    def watch() -> None:
        while data := os.read(read_end, 64):
            if wanted & set(data):
                stop.set()

    threading.Thread(target=watch, name="signal-wakeup", daemon=True).start()


def service_status(agent: Agent, pinger: WatchdogPinger | None) -> str:
    """The STATUS text systemd shows (and the updater's health check reads): ``version=``,
    ``watchdog=`` (ok, withheld or off), then the status line."""
    watchdog = "off" if pinger is None else "ok" if pinger.verdict.healthy else "withheld"
    return f"version={__version__} watchdog={watchdog} {status_line(agent)}"


def run_until_stopped(
    agent: Agent,
    stop: threading.Event,
    duration_s: float | None,
    *,
    notifier: SystemdNotifier | None = None,
    clock: Clock | None = None,
) -> str:
    """Start the agent, tell systemd it is ready, log its status every minute, ping the
    watchdog while the pipeline ticks; stop it on ``stop`` or after ``duration_s`` (real
    seconds), telling systemd it is stopping; returns the stop reason.

    ``clock`` measures real time (systemd's watchdog is in real time): the system clock unless a
    test hands in another.
    """
    clock = clock or SystemClock()
    notifier = notifier or SystemdNotifier(None)
    agent.start()
    start = clock.monotonic()
    end = float("inf") if duration_s is None else start + duration_s
    pinger: WatchdogPinger | None = None
    if notifier.watchdog_interval_s is not None:
        interval = notifier.watchdog_interval_s
        watchdog = PipelineWatchdog(
            lambda: agent.pipeline.ticks,
            stall_after_s=min(DEFAULT_STALL_S, interval / 2),
            now=start,
        )
        pinger = WatchdogPinger(watchdog, notifier, interval_s=interval, now=start)
        log.info("systemd watchdog every %.1f s (pings every %.1f s)", interval, interval / 2)
    notifier.ready(service_status(agent, pinger))
    next_status = start + STATUS_LOG_EVERY_S
    reason = "duration elapsed"
    try:
        while True:
            now = clock.monotonic()
            if now >= end:
                break
            if pinger is not None and pinger.step(now) is not None:
                notifier.status(service_status(agent, pinger))
            if now >= next_status:
                next_status = now + STATUS_LOG_EVERY_S
                log.info("status %s", status_line(agent))
                notifier.status(service_status(agent, pinger))
            wake = min(end, next_status, pinger.next_wake if pinger else float("inf"))
            if stop.wait(max(0.0, wake - clock.monotonic())):
                reason = "signal"
                break
    finally:
        notifier.stopping(f"version={__version__} stopping: {reason}")
        agent.stop(reason)
        notifier.close()
    return reason
