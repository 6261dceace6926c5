"""Reliability row 5, the case the keepalive exists for: the agent's process is frozen (SIGSTOP:
a hung kernel driver, a stalled board) with its TCP connection still open, so the broker hears
no close and must notice the silence itself. (A kill -9 closes the socket and the will comes at
once: tests/integration/test_daemon_process.py.)"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from tests.faults.agent_process import (
    agent_process,
    emulated_radar,
    pole_config,
    run_argv,
    stop_agent,
)

POLE_ID = "frozen-pole-1"
KEEPALIVE_S = 2
#: Real slack on top of 1.5 x keepalive: Mosquitto 2.0 checks keepalives about once a second
#: (measured here: the will 3.6-4.7 s after the freeze with keepalive 2 s), and the machine is
#: shared and loaded.
SLACK_S = 5.0


def test_a_frozen_agent_gets_its_last_will_within_one_and_a_half_keepalives(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 5 -- agent killed or frozen. Criterion: Last Will ``offline`` seen within 1.5 x
    keepalive; restart resumes with a new boot id (that part, and the spool replay:
    tests/telemetry/test_agent_kill9.py).

    Checked: ``pole-agent run`` with keepalive 2 s is stopped with SIGSTOP; the retained status
    turns ``offline`` carrying the frozen process's boot id no earlier than one keepalive and
    within 1.5 x keepalive plus a generous real slack; after SIGCONT the same process
    reconnects and says ``online`` again (same boot id), so a late will never leaves a live
    pole marked offline; SIGTERM then stops it cleanly.
    """
    monitor = BrokerMonitor(broker.host, broker.port, POLE_ID)
    monitor.start()
    with emulated_radar(tmp_path) as emulator:
        backoff = "reconnect_min_s = 0.2\nreconnect_max_s = 1"
        config = pole_config(
            tmp_path, POLE_ID, emulator, broker, keepalive_s=KEEPALIVE_S, mqtt_extra=backoff
        )
        try:
            with agent_process(run_argv(config)) as agent:
                assert monitor.wait_for_state("online", 30), "the agent did not come online"
                boot_id = monitor.messages("status")[-1].json()["boot_id"]
                agent.send_signal(signal.SIGSTOP)
                frozen_at = time.monotonic()
                assert monitor.wait_for_state("offline", 1.5 * KEEPALIVE_S + SLACK_S)
                will = monitor.messages("status")[-1]
                assert will.at - frozen_at <= 1.5 * KEEPALIVE_S + SLACK_S
                assert will.at - frozen_at >= KEEPALIVE_S * 0.9, "will before the keepalive"
                assert will.json()["boot_id"] == boot_id

                agent.send_signal(signal.SIGCONT)
                assert monitor.wait_for_state("online", 30), "no online after the thaw"
                assert monitor.messages("status")[-1].json()["boot_id"] == boot_id
                assert stop_agent(agent)[0] == 0
        finally:
            monitor.stop()
    assert monitor.last_state() == "stopped"
