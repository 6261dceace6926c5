"""Reliability row 12: the data disk fills up under the running agent.

The state folder is a real, size-limited file system: a 1 MiB tmpfs mounted in a private user
and mount namespace (``unshare -rm``; no root needed where unprivileged user namespaces are
allowed), in which ``pole-agent run`` then runs. The test fills that file system through
``/proc/<pid>/root`` (the agent's view of the mounts) until the kernel answers ENOSPC, and frees
it again: every writer of the agent (the SQLite spool, the clock mark, ...) meets a genuinely
full disk, not a simulated error. (The spool's own unit test, tests/telemetry/test_spool.py,
caps SQLite's ``max_page_count`` instead.)
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from simulator.world import Vehicle
from tests.faults.agent_process import (
    agent_process,
    emulated_radar,
    pole_config,
    run_argv,
    stop_agent,
)

POLE_ID = "full-pole-1"
FS_SIZE = "1m"
HEADWAY_S = 6.0  # a 50 km/h car is ~3.6 s in the beam: one transit (one warning) each


def namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def fill(folder: Path) -> int:
    """Write a filler file into ``folder`` until the file system is full; returns its size."""
    written = 0
    chunk = b"\0" * 65536
    with (folder / "filler").open("wb", buffering=0) as handle:
        while True:
            try:
                written += handle.write(chunk)
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
                return written


def spool_faults(monitor: BrokerMonitor, phase: str) -> list[dict[str, object]]:
    return [
        body
        for body in (m.json() for m in monitor.messages("events/fault"))
        if body["component"] == "spool" and body["phase"] == phase
    ]


def warnings_since(monitor: BrokerMonitor, since: float) -> int:
    return sum(
        1
        for m in monitor.messages("events/warning")
        if m.at >= since and m.json()["phase"] == "start"
    )


@pytest.mark.skipif(not namespaces_work(), reason="unshare -rm (user+mount namespace) refused")
def test_a_full_data_disk_is_reported_survived_and_recovered(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 12 -- data disk full. Criterion: warnings go on; no crash; reported; recovers by
    itself when space returns.

    Checked, with a speeder passing every 6 s: once the tmpfs holding the state folder is full,
    the agent keeps running, a ``spool`` fault event reaches the broker (sent from memory) and
    new warning events keep arriving while the disk is full; when the filler is deleted the
    spool reports its recovery by itself, warnings still arrive, and SIGTERM stops the agent
    with exit code 0.
    """
    vehicles = [Vehicle(i + 1, 2.0 + i * HEADWAY_S, 50.0, "approaching") for i in range(30)]
    state = tmp_path / "state"
    state.mkdir()
    monitor = BrokerMonitor(broker.host, broker.port, POLE_ID)
    monitor.start()
    with emulated_radar(tmp_path, vehicles) as emulator:
        extra = "[telemetry]\nspool_batch_s = 0.1\nhealth_interval_s = 2"
        config = pole_config(tmp_path, POLE_ID, emulator, broker, extra=extra)
        run = " ".join(f'"{arg}"' for arg in run_argv(config))
        script = f'mount -t tmpfs -o size={FS_SIZE} pole-data "{state}" && exec {run}'
        try:
            with agent_process(["unshare", "-rm", "sh", "-c", script]) as agent:
                assert monitor.wait_for_state("online", 30), "the agent did not come online"
                assert monitor.wait_until(lambda m: warnings_since(m, 0.0) >= 1, 30)
                # The agent's own view of its state folder: the tmpfs, not the folder here.
                seen_by_agent = Path(f"/proc/{agent.pid}/root") / state.relative_to("/")
                assert fill(seen_by_agent) < 2 * 1024 * 1024
                full_at = time.monotonic()
                assert monitor.wait_until(lambda m: len(spool_faults(m, "fault")) == 1, 30), (
                    "no spool fault reported"
                )
                fault = spool_faults(monitor, "fault")[0]
                assert fault["state"] == "failed" and "full" in str(fault["reason"]), fault
                assert monitor.wait_until(lambda m: warnings_since(m, full_at) >= 1, 30), (
                    "warnings stopped on a full disk"
                )
                assert agent.poll() is None, "the agent died on a full disk"

                (seen_by_agent / "filler").unlink()
                freed_at = time.monotonic()
                assert monitor.wait_until(lambda m: len(spool_faults(m, "recovery")) == 1, 60), (
                    "the spool did not recover by itself"
                )
                assert monitor.wait_until(lambda m: warnings_since(m, freed_at) >= 1, 30)
                assert agent.poll() is None
                code, err = stop_agent(agent)
        finally:
            monitor.stop()
    assert code == 0, err
