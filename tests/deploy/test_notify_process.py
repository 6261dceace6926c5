"""The agent speaks systemd's notify protocol (reliability scenario 6).

Against a socket the test binds, as systemd would: READY=1 once started, WATCHDOG=1 every half
WATCHDOG_USEC while the pipeline ticks, no WATCHDOG=1 while the process is frozen (SIGSTOP) or its
pipeline is stuck, STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import load_config
from pole_agent.daemon import run_until_stopped
from pole_agent.systemd_notify import SystemdNotifier
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.deploy.supervisor import Notice, NotifyListener

ROOT = Path(__file__).resolve().parents[2]
WATCHDOG_S = 1.0  # pings every 0.5 s


def pole_config(tmp_path: Path, radar_port: str) -> Path:
    """The simulator's config with this test's radar port and state dir, and no broker."""
    text = (ROOT / "deploy" / "config" / "simulator.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^state_dir\s*=.*$", f'state_dir = "{tmp_path / "state"}"', text)
    text = re.sub(r'(?m)^port\s*=\s*"[^"]*"', f'port = "{radar_port}"', text)
    path = tmp_path / "pole.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    instance = NotifyListener()
    try:
        yield instance
    finally:
        instance.close()


def test_ready_watchdog_frozen_and_stopping(tmp_path: Path, listener: NotifyListener) -> None:
    clock = ScaledClock(1.0)
    world = World([Vehicle(1, 1.0, 45.0, "approaching")], angle_deg=15)
    (tmp_path / "dev").mkdir()
    with Ops243Emulator(world, clock, tmp_path / "dev") as emulator:
        config = pole_config(tmp_path, emulator.port)
        agent = subprocess.Popen(
            [sys.executable, "-m", "pole_agent", "run", "--config", str(config)],
            env={
                **os.environ,
                "NOTIFY_SOCKET": listener.path,
                "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000)),
                "PYTHONUNBUFFERED": "1",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            pid = agent.pid
            assert listener.wait_for("READY", pid=pid, timeout=30), "no READY=1"
            ready = listener.of("READY", pid)[0]
            assert re.search(r"version=\S+ watchdog=ok ", ready.fields["STATUS"]), ready
            # The pings keep coming while it is healthy (generous: 5 pings in up to 20 s).
            assert listener.wait_for("WATCHDOG", count=5, pid=pid, timeout=20)
            assert not listener.of("WATCHDOG", pid)[0].at < ready.at

            # Frozen: the pings stop (what is already in flight is read within 0.5 s).
            agent.send_signal(signal.SIGSTOP)
            time.sleep(0.5)
            frozen_count = len(listener.of("WATCHDOG", pid))
            time.sleep(4 * WATCHDOG_S)
            assert len(listener.of("WATCHDOG", pid)) == frozen_count, "pings while frozen"

            # Thawed: they come back (systemd would have killed it by now on a pole).
            agent.send_signal(signal.SIGCONT)
            assert listener.wait_for("WATCHDOG", count=frozen_count + 2, pid=pid, timeout=20)

            agent.send_signal(signal.SIGTERM)
            _, err = agent.communicate(timeout=30)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    assert agent.returncode == 0, err.decode()
    stopping = listener.of("STOPPING", pid)
    assert len(stopping) == 1
    assert "stopping: signal" in stopping[0].fields["STATUS"]
    # Nothing after STOPPING=1: no ping from a process that is shutting down.
    assert all(n.at <= stopping[0].at for n in listener.of("WATCHDOG", pid))


class FreezableClock(ScaledClock):
    """A real scaled clock whose ``wall()`` can be made to block: the pipeline's reader thread
    reads the wall time once a (simulated) second to refresh the zone, so blocking it is a stuck
    pipeline thread, the case a frozen-process test cannot show."""

    def __init__(self) -> None:
        super().__init__(1.0)
        self.thawed = threading.Event()
        self.thawed.set()
        self.blocked_threads: set[str] = set()

    def wall(self) -> datetime:
        if not self.thawed.is_set():
            self.blocked_threads.add(threading.current_thread().name)
            self.thawed.wait()
        return super().wall()


def test_a_stuck_pipeline_thread_stops_the_pings(tmp_path: Path, listener: NotifyListener) -> None:
    config = load_config(pole_config(tmp_path, str(tmp_path / "no-radar-here")))
    clock = FreezableClock()
    agent = build_agent(config, clock, pin_factory=MockFactory(pin_class=MockPWMPin))
    notifier = SystemdNotifier.from_environ(
        {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000))}
    )
    stop = threading.Event()
    runner = threading.Thread(
        target=run_until_stopped, args=(agent, stop, None), kwargs={"notifier": notifier}
    )
    runner.start()
    try:
        assert listener.wait_for("READY", timeout=20)
        # No radar: the reader thread retries the port and keeps ticking; that is healthy.
        assert listener.wait_for("WATCHDOG", count=4, timeout=20)

        clock.thawed.clear()

        def withheld() -> list[Notice]:
            return [n for n in listener.of("STATUS") if "watchdog=withheld" in n.fields["STATUS"]]

        deadline = time.monotonic() + 20
        while not withheld() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert withheld(), "the stuck pipeline was not noticed"
        assert any("radar" in name for name in clock.blocked_threads), clock.blocked_threads
        count = len(listener.of("WATCHDOG"))
        time.sleep(3 * WATCHDOG_S)
        assert len(listener.of("WATCHDOG")) == count, "pinged while the pipeline was stuck"

        clock.thawed.set()
        assert listener.wait_for("WATCHDOG", count=count + 2, timeout=20), "pings did not resume"
        statuses = [n.fields["STATUS"] for n in listener.of("STATUS")]
        assert "watchdog=ok" in statuses[-1]
    finally:
        clock.thawed.set()
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert listener.of("STOPPING")
