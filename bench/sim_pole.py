"""What the benchmarks share: the simulated pole's config, pins that stamp their changes with
``perf_counter_ns``, the daemon's logging set-up, and process gauges (RSS, threads, fds)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockPWMPin

from pole_agent.config import MqttConfig, PoleConfig, RadarConfig, load_config
from pole_agent.logging_setup import setup_logging

ROOT = Path(__file__).resolve().parents[1]
SIM_CONFIG = ROOT / "deploy" / "config" / "simulator.toml"
BEACON_GPIO = 17
"""The first beacon line of the simulator's board profile: latency is measured to this pin."""


class BenchError(RuntimeError):
    """A benchmark could not run (the agent did not start, a pin never changed ...)."""


class TimedPin(MockPWMPin):  # type: ignore[misc]  # gpiozero is untyped
    """A mock PWM pin that records ``(perf_counter_ns(), value)`` for every real state change.

    The stamp is taken as soon as gpiozero's own bookkeeping says the state changed, in the
    thread that set the pin; ``went_high`` is then set so a waiting benchmark wakes up without
    polling (a poller would compete for the GIL with the thread being measured).
    """

    def __init__(self, factory: Any, info: Any) -> None:
        self.changes: list[tuple[int, float]] = []
        self.went_high = threading.Event()
        super().__init__(factory, info)

    def _change_state(self, value: Any) -> bool:
        changed = bool(super()._change_state(value))
        if changed:
            self.changes.append((time.perf_counter_ns(), float(value)))
            if value:
                self.went_high.set()
        return changed

    def first_high_since(self, index: int) -> int | None:
        """The stamp of the first change to high at or after position ``index`` of ``changes``."""
        for stamp, value in self.changes[index:]:
            if value:
                return stamp
        return None


def road_radar(config: PoleConfig) -> RadarConfig:
    """The radar that feeds warnings."""
    return config.radars.road


def bench_config(state_dir: Path, *, radar_port: str, mqtt: MqttConfig | None = None) -> PoleConfig:
    """deploy/config/simulator.toml with the bench's radar port, mock pins, state dir and broker
    (the same changes tests/integration/harness.py makes). The latency bench slows its emulator's
    own frames to a trickle, so the road radar's stale timeout is lifted: a quiet sensor must not
    put the agent in fail-safe (whose steady flashing would be timed as warnings)."""
    base = load_config(SIM_CONFIG).with_radar_port(radar_port)
    road = base.radars.road.model_copy(update={"stale_after_s": 3600.0})
    return base.model_copy(
        update={
            "radars": base.radars.model_copy(update={"road": road}),
            "outputs": base.outputs.model_copy(update={"pin_factory": "mock"}),
            "state_dir": state_dir,
            "mqtt": mqtt,
        }
    )


@contextlib.contextmanager
def daemon_logging(level: str = "info") -> Iterator[None]:
    """Log as the daemon does by default (text at INFO), into /dev/null, so that formatting the
    log records is part of the measured cost; the previous root handlers come back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    with open(os.devnull, "w", encoding="utf-8") as sink:
        handler = setup_logging(level, "text", stream=sink)
        try:
            yield
        finally:
            root.removeHandler(handler)
            for old in saved_handlers:
                root.addHandler(old)
            root.setLevel(saved_level)


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.005) -> bool:
    """Poll ``condition`` with sleeps in between (never spinning); whether it came true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


# -- process gauges (Linux /proc) -------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/self/status has no {field}")


def rss_mb() -> float:
    """Resident set size now, MB."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Peak resident set size since start or since ``reset_peak_rss()``, MB (what
    ``ru_maxrss`` reports on Linux)."""
    return _status_kb("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Restart the peak RSS count from the current RSS (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_count() -> int:
    return threading.active_count()


def os_threads() -> int:
    """The process's threads as the kernel counts them (``Threads:`` in /proc/self/status):
    Python's threads and any a library started outside Python."""
    return _status_kb("Threads")
