"""The agent as the pole runs it: a separate process, stopped by signals or killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pole_agent.clock import ScaledClock
from pole_agent.daemon import install_stop_signals
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import write_pole_toml

POLE_ID = "proc-pole-1"
KEEPALIVE_S = 2


def write_config(tmp_path: Path, radar_port: str, broker: MosquittoBroker) -> Path:
    return write_pole_toml(
        tmp_path,
        pole_id=POLE_ID,
        radar_port=radar_port,
        host=broker.host,
        port=broker.port,
        keepalive_s=KEEPALIVE_S,
    )


def start_agent(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pole_agent", "run", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_kill9_leaves_the_last_will_and_sigterm_stops_cleanly(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    clock = ScaledClock(1.0)
    world = World([Vehicle(1, 1.0, 45.0, "approaching")], angle_deg=10)
    (tmp_path / "dev").mkdir()
    with Ops243Emulator(world, clock, tmp_path / "dev") as emulator:
        config = write_config(tmp_path, emulator.port, broker)
        monitor = BrokerMonitor(broker.host, broker.port, POLE_ID)
        monitor.start()

        agent = start_agent(config)
        try:
            assert monitor.wait_for_state("online", timeout=20), agent.stdout
            boot_id = monitor.messages("status")[-1].json()["boot_id"]
            killed_at = time.monotonic()
            agent.send_signal(signal.SIGKILL)
            agent.wait(timeout=10)
            assert monitor.wait_for_state("offline", timeout=1.5 * KEEPALIVE_S + 5)
            # Generous real limit: the broker sees the socket close at once.
            assert time.monotonic() - killed_at < 1.5 * KEEPALIVE_S + 5
            will = monitor.messages("status")[-1].json()
            assert will == {
                "schema_version": 1,
                "state": "offline",
                "pole_id": POLE_ID,
                "boot_id": boot_id,
            }
        finally:
            if agent.poll() is None:
                agent.kill()

        # A restart comes back online with a new boot id; SIGTERM then stops it cleanly.
        agent = start_agent(config)
        try:
            assert monitor.wait_until(
                lambda m: (
                    m.last_state() == "online"
                    and m.messages("status")[-1].json()["boot_id"] != boot_id
                ),
                timeout=20,
            )
            agent.send_signal(signal.SIGTERM)
            out, _ = agent.communicate(timeout=20)
        finally:
            if agent.poll() is None:
                agent.kill()
        assert agent.returncode == 0, out.decode()
        assert monitor.wait_for_state("stopped", timeout=10)
        assert b"level=error" not in out, out.decode()
        monitor.stop()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pole_agent", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_run_refuses_a_bad_config_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('pole_id = "x"\n[radars.road]\nbaud = 1234\n', encoding="utf-8")
    result = run_cli("run", "--config", str(bad))
    assert result.returncode == 1
    assert "radars.road.baud" in result.stderr


def test_config_check_exit_codes() -> None:
    root = Path(__file__).resolve().parents[2]
    ok = run_cli("config", "check", str(root / "deploy" / "config" / "simulator.toml"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok")
    missing = run_cli("config", "check", "/nonexistent/pole.toml")
    assert missing.returncode == 1
    assert "cannot read the file" in missing.stderr
    usage = run_cli("config")
    assert usage.returncode == 2


def test_simulate_runs_headless_for_a_duration(tmp_path: Path) -> None:
    result = run_cli(
        "simulate",
        "--duration",
        "4",
        "--speed",
        "10",
        "--view",
        "log",
        "--state-dir",
        str(tmp_path / "state"),
        "--vehicles-per-hour",
        "1200",
    )
    assert result.returncode == 0, result.stderr
    assert "simulation over:" in result.stdout
    assert "transit " in result.stderr


def test_a_stop_signal_taken_by_another_thread_still_wakes_the_waiting_main_thread() -> None:
    """`pole-agent run`'s main thread waits on ``stop``; the kernel may hand SIGTERM to any of
    the agent's threads, and CPython then ran the handler only when the main thread's wait
    timed out (up to a minute: found by tests/faults/test_bad_config.py, a SIGTERM right after a
    rebuild unanswered for 30 s). Here SIGTERM goes to a thread that is not the main one; the
    main thread must wake at once (the generous wait below is only reached on failure)."""
    stop = threading.Event()
    old_term = signal.getsignal(signal.SIGTERM)
    old_int = signal.getsignal(signal.SIGINT)
    old_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(old_fd)
    received = install_stop_signals(stop)
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, name="other", daemon=True)
    other.start()
    try:
        assert other.ident is not None
        signal.pthread_kill(other.ident, signal.SIGTERM)
        assert stop.wait(60.0), "the main thread was not woken by a signal another thread took"
        time.sleep(0)  # a bytecode boundary: the Python handler runs here at the latest
        assert received == {signal.SIGTERM: "SIGTERM"}
    finally:
        idle.set()
        os.close(signal.set_wakeup_fd(old_fd))  # ends the watching thread (end of file)
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
