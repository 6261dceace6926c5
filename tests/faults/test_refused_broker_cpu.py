"""Reliability row 4, the part the store-and-forward test leaves out: a pole whose broker refuses
it keeps retrying for hours; its CPU must stay at the level of a pole with no broker trouble."""

from __future__ import annotations

import os
import time
from pathlib import Path

from simulator.broker import MosquittoBroker
from tests.faults.agent_process import (
    agent_process,
    emulated_radar,
    pole_config,
    run_argv,
    stop_agent,
)

#: The agent's CPU time over the window, as a share of one core. Measured here: 0.06 CPU s in
#: 8 s (under 1 %); a reconnect loop without backoff takes a whole core. Generous, as the
#: machine is shared.
IDLE_CPU_LIMIT = 0.25
WINDOW_S = 6.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def test_a_refusing_broker_keeps_the_agent_idle(tmp_path: Path) -> None:
    """Row 4 -- broker refuses connections for a while. Criterion: reconnect with capped,
    jittered backoff (tests/telemetry/test_store_and_forward.py); idle CPU stays low.

    Checked: ``pole-agent run`` against a Mosquitto that refuses anonymous clients, on a quiet
    road: after start-up, its CPU time (from /proc) over 6 s of refusals stays under a quarter of
    one core, and the broker saw it try again in that window (it is retrying, not given up)."""
    with MosquittoBroker(allow_anonymous=False) as broker, emulated_radar(tmp_path) as emulator:
        backoff = "reconnect_min_s = 0.5\nreconnect_max_s = 4"
        config = pole_config(tmp_path, "refused-pole-1", emulator, broker, mqtt_extra=backoff)
        with agent_process(run_argv(config)) as agent:
            time.sleep(3.0)  # start-up (imports, radar dialogue) is not idle
            assert agent.poll() is None
            refusals_before = broker.log_text().count("not authorised")
            cpu_before, wall_before = cpu_seconds(agent.pid), time.monotonic()
            time.sleep(WINDOW_S)
            cpu = cpu_seconds(agent.pid) - cpu_before
            wall = time.monotonic() - wall_before
            refusals = broker.log_text().count("not authorised") - refusals_before
            assert agent.poll() is None
            assert stop_agent(agent)[0] == 0
    assert refusals >= 1, "the agent stopped retrying"
    assert cpu / wall < IDLE_CPU_LIMIT, f"{cpu:.2f} CPU s in {wall:.1f} s"
