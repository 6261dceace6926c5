"""`pole-agent selftest` against a healthy and a broken simulated pole."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from pole_agent.installer.selftest import LAST_FILE, SelftestReport, run_selftest
from pole_agent.status_socket import query, socket_path
from simulator.broker import MosquittoBroker, find_free_port
from simulator.monitor import BrokerMonitor
from tests.integration.harness import SIM_CONFIG, make_pole


def outcomes(report: SelftestReport) -> dict[str, str]:
    return {c.name: c.outcome for c in report.checks}


def test_healthy_pole_with_the_agent_stopped(tmp_path: Path, broker: MosquittoBroker) -> None:
    pole = make_pole(tmp_path, [], factor=10.0, broker=broker)
    config = pole.agent.config
    monitor = BrokerMonitor(broker.host, broker.port, config.pole_id)
    monitor.start()
    pole.emulator.start()
    try:
        report = run_selftest(
            config, clock=pole.clock, kernel_clock_sync=lambda: True, radar_timeout_s=20
        )
        assert monitor.wait_until(lambda m: m.count("selftest") >= 1, timeout=15)
        published = monitor.messages("selftest")[-1]
        # Retained: the city sees the last result whenever it subscribes.
        late = BrokerMonitor(broker.host, broker.port, config.pole_id)
        late.start()
        try:
            assert late.wait_until(lambda m: m.count("selftest") >= 1, timeout=15)
            assert late.messages("selftest")[-1].retain
        finally:
            late.stop()
    finally:
        pole.emulator.stop()
        monitor.stop()
    got = outcomes(report)
    assert report.ok, report.checks
    assert not report.agent_running and got["agent"] == "warn"
    assert got["radar answers and reports"] == "pass"
    assert got["outputs reachable"] == "pass"
    assert got["clock trusted"] == "pass"
    assert got["broker reachable"] == "pass"
    radar = next(c for c in report.checks if c.name == "radar answers and reports")
    assert "OPS243" in radar.detail
    seen = SelftestReport.model_validate_json(published.payload)
    assert seen.ok and seen.pole_id == config.pole_id
    last = config.state_dir / LAST_FILE
    assert stat.S_IMODE(last.stat().st_mode) == 0o600
    assert SelftestReport.model_validate_json(last.read_bytes()) == report


def test_healthy_pole_asks_the_running_agent(tmp_path: Path, broker: MosquittoBroker) -> None:
    pole = make_pole(tmp_path, [], factor=10.0, broker=broker)
    config = pole.agent.config
    pole.emulator.start()
    pole.agent.start()
    try:
        deadline = time.monotonic() + 30
        path = socket_path(config.state_dir)
        while time.monotonic() < deadline:
            snap = query(path)
            if snap.health.get("radar.road") and snap.health["radar.road"].state == "ok":
                break
            time.sleep(0.1)
        report = run_selftest(config, clock=pole.clock, kernel_clock_sync=lambda: False)
        agent_pid_check = next(c for c in report.checks if c.name == "agent")
    finally:
        pole.agent.stop()
        pole.emulator.stop()
    got = outcomes(report)
    assert report.agent_running and agent_pid_check.outcome == "pass"
    assert f"pid {os.getpid()}" in agent_pid_check.detail
    assert got["radar answers and reports"] == "pass"
    radar = next(c for c in report.checks if c.name == "radar answers and reports")
    assert "(agent)" in radar.detail  # read through the agent, the port was not opened twice
    assert got["broker reachable"] == "pass"
    assert report.ok


def _broken_config(tmp_path: Path) -> Path:
    """The simulator's config with a radar that is not there and a broker nobody runs."""
    text = SIM_CONFIG.read_text(encoding="utf-8")
    text = text.replace('"/dev/radar-road"', json.dumps(str(tmp_path / "no-radar")))
    text = text.replace('"../../.state/sim"', json.dumps(str(tmp_path / "state")))
    text += f'\n[mqtt]\nhost = "127.0.0.1"\nport = {find_free_port()}\nkeepalive_s = 5\n'
    path = tmp_path / "pole.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_broken_pole_fails_with_a_table_and_exit_1(tmp_path: Path) -> None:
    config = _broken_config(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pole_agent",
            "selftest",
            "--config",
            str(config),
            "--radar-timeout",
            "5",
            "--broker-timeout",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    radar = next(line for line in lines if line.startswith("radar answers and reports"))
    assert "FAIL" in radar and "no-radar" in radar
    broker = next(line for line in lines if line.startswith("broker reachable"))
    assert "FAIL" in broker
    assert any("-> check the radar's USB cable" in line for line in lines)
    assert lines[-1] == "FAILED"
    kept = SelftestReport.model_validate_json((tmp_path / "state" / LAST_FILE).read_bytes())
    assert not kept.ok
