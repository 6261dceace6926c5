"""`pole-agent run` as a process under remote management: a signed desired config makes it
rebuild the agent in-process with systemd told RELOADING=1 then READY=1 (never STOPPING=1, which
would have systemd stop the unit), and the next process starts with that config."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pole_agent.clock import ScaledClock
from pole_agent.release import generate_keypair
from pole_agent.remote.envelope import load_private_key, sign
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import World
from tests.deploy.supervisor import NotifyListener
from tests.remote.mqtt_probe import Probe

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, radar_port: str, broker: MosquittoBroker, pub: Path) -> Path:
    text = (ROOT / "deploy" / "config" / "simulator.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^state_dir\s*=.*$", f'state_dir = "{tmp_path / "state"}"', text)
    text = re.sub(r'(?m)^port\s*=\s*"[^"]*"', f'port = "{radar_port}"', text)
    text += (
        f'\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nkeepalive_s = 5\n'
        f'\n[remote]\nenabled = true\nfleet_public_key_file = "{pub}"\n'
    )
    path = tmp_path / "pole.toml"
    path.write_text(text, encoding="utf-8")
    return path


def next_report(
    probe: Probe, topic: str, timeout_s: float, status: str | None = None
) -> dict[str, Any]:
    """The next message on ``topic`` (of ``status``, when given; others are skipped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            got, payload = probe.messages.get(timeout=0.1)
        except queue.Empty:
            continue
        if got == topic:
            data: dict[str, Any] = json.loads(payload)
            if status is None or data.get("status") == status:
                return data
    raise AssertionError(f"nothing on {topic} within {timeout_s} s")


def desired_hold(config: Path, version: int, hold_s: float, key_path: Path) -> dict[str, Any]:
    """The config file as a signed desired config, with ``warning.hold_s`` changed."""
    body = tomllib.loads(config.read_text())
    body["warning"]["hold_s"] = hold_s
    message = {
        "kind": "config",
        "pole_id": body["pole_id"],
        "version": version,
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "config": body,
    }
    return sign(message, load_private_key(key_path))


def start(config: Path, listener: NotifyListener) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pole_agent", "run", "--config", str(config)],
        env={**os.environ, "NOTIFY_SOCKET": listener.path, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return err.decode(errors="replace")


@dataclass
class RunRig:
    """What a test of ``pole-agent run`` processes needs: the pole's config file (remote on,
    the fleet's public key), its key, the systemd notify listener and the city's probe
    subscribed to ``config/reported``."""

    config: Path
    key_path: Path
    listener: NotifyListener
    city: Probe
    pole_id: str
    reported: str


@contextmanager
def run_rig(tmp_path: Path, broker: MosquittoBroker, remote_extra: str = "") -> Iterator[RunRig]:
    key_path, pub = generate_keypair(tmp_path / "keys", "fleet")
    (tmp_path / "dev").mkdir()
    listener = NotifyListener()
    city = Probe(broker.host, broker.port, "city")
    assert city.connect()
    try:
        with Ops243Emulator(World([], angle_deg=15), ScaledClock(1.0), tmp_path / "dev") as radar:
            config = write_config(tmp_path, radar.port, broker, pub)
            config.write_text(config.read_text() + remote_extra, encoding="utf-8")
            pole_id = tomllib.loads(config.read_text())["pole_id"]
            reported = topics.config_reported(pole_id)
            city.subscribe(reported)
            yield RunRig(config, key_path, listener, city, pole_id, reported)
    finally:
        listener.close()
        city.close()


def test_run_rebuilds_the_agent_with_a_remote_config(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    with run_rig(tmp_path, broker) as rig:
        config, listener, city, reported = rig.config, rig.listener, rig.city, rig.reported
        proc = start(config, listener)
        log = ""
        try:
            assert listener.wait_for("READY", pid=proc.pid, timeout=30), "no READY=1"
            assert next_report(city, reported, 30)["status"] == "running"
            signed = desired_hold(config, 1, 7.5, rig.key_path)
            desired = topics.config_desired(rig.pole_id)
            city.publish(desired, json.dumps(signed).encode(), retain=True)
            assert next_report(city, reported, 10)["status"] == "applied"
            assert listener.wait_for("RELOADING", pid=proc.pid, timeout=30), "no RELOADING=1"
            assert listener.wait_for("READY", count=2, pid=proc.pid, timeout=30)
            # The rebuilt agent reports `running` and rejects the retained desired config it is
            # sent again (older-version), in either order: read both, so that the next process's
            # replies below are its own.
            again = [next_report(city, reported, 30) for _ in range(2)]
            assert {r["status"] for r in again} == {"running", "rejected"}, again
            assert all(r["version"] == 1 for r in again), again
            assert not listener.of("STOPPING", proc.pid)
        finally:
            if proc.poll() is None:
                log = stop(proc)
        assert listener.of("STOPPING", proc.pid)  # a real stop still says STOPPING=1
        assert "restarting the agent with config version 1" in log

        # The next process starts with the remote config (version 1 in force).
        proc = start(config, listener)
        try:
            assert listener.wait_for("READY", pid=proc.pid, timeout=30)
            replies = [next_report(city, reported, 30) for _ in range(2)]
            assert {r["status"] for r in replies} == {"running", "rejected"}
            assert all(r["version"] == 1 for r in replies)
        finally:
            stop(proc)
