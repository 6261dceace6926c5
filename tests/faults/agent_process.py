"""``pole-agent run`` as a separate process on a simulated radar, as the fault tests run it: the
OPS243 emulator on a pty, a config for this test's broker, and a process that is always reaped
(thawed and killed if a test fails half-way)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pole_agent.clock import ScaledClock
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World
from tests.integration.harness import write_pole_toml


def run_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "pole_agent", "run", "--config", str(config)]


@contextmanager
def emulated_radar(tmp_path: Path, vehicles: Sequence[Vehicle] = ()) -> Iterator[Ops243Emulator]:
    """The road radar at 10 degrees on a real-time clock, its pty under ``tmp_path/dev``."""
    (tmp_path / "dev").mkdir(exist_ok=True)
    world = World(list(vehicles), angle_deg=10)
    with Ops243Emulator(world, ScaledClock(1.0), tmp_path / "dev") as emulator:
        yield emulator


def pole_config(
    tmp_path: Path,
    pole_id: str,
    emulator: Ops243Emulator,
    broker: MosquittoBroker,
    *,
    keepalive_s: int = 5,
    mqtt_extra: str = "",
    extra: str = "",
) -> Path:
    """``write_pole_toml`` for this radar and broker."""
    return write_pole_toml(
        tmp_path,
        pole_id=pole_id,
        radar_port=emulator.port,
        host=broker.host,
        port=broker.port,
        keepalive_s=keepalive_s,
        mqtt_extra=mqtt_extra,
        extra=extra,
    )


@contextmanager
def agent_process(
    argv: list[str], *, stderr: int | IO[bytes] = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` (``run_argv(config)``, possibly wrapped); on leaving, a process still
    running is thawed (it may be SIGSTOPped) and killed."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()


def stop_agent(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> tuple[int, str]:
    """SIGTERM, then its exit code and what it wrote on stderr (if that was a pipe)."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, (err or b"").decode(errors="replace")[-3000:]
