"""A remote config that kills the agent before its grace period ends: ``pole-agent run`` processes
killed with SIGKILL while a config is on trial; at the second unclean end the next start rolls it
back to the local config before building the agent, and reports the rollback with its reason on
``config/reported``. A clean stop during the trial is not counted (store-level test)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from pole_agent.remote.boot import count_unclean_end
from pole_agent.remote.store import RemoteStore, StoredConfig, Trial
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from tests.deploy.supervisor import NotifyListener
from tests.remote.mqtt_probe import Probe
from tests.remote.test_run_loop import desired_hold, next_report, run_rig, start, stop


def trial_of(state: Path) -> Trial | None:
    return RemoteStore(state).trial


def killed_run(
    config: Path, listener: NotifyListener, city: Probe, reported: str
) -> dict[str, Any]:
    """Start ``pole-agent run``, take its first report, kill it with SIGKILL."""
    proc = start(config, listener)
    try:
        assert listener.wait_for("READY", pid=proc.pid, timeout=30)
        return next_report(city, reported, 30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)


def test_two_unclean_ends_on_trial_roll_back_at_start(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    state = tmp_path / "state"
    with run_rig(tmp_path, broker, "grace_s = 3600\n") as rig:
        config, listener, city, reported = rig.config, rig.listener, rig.city, rig.reported
        proc = start(config, listener)
        try:
            assert listener.wait_for("READY", pid=proc.pid, timeout=30), "no READY=1"
            assert next_report(city, reported, 30)["status"] == "running"
            signed = desired_hold(config, 1, 7.5, rig.key_path)
            city.publish(topics.config_desired(rig.pole_id), json.dumps(signed).encode())
            assert next_report(city, reported, 10)["status"] == "applied"
            again = next_report(city, reported, 30)  # the rebuilt agent runs v1, on trial
            assert again["status"] == "running" and again["version"] == 1
            assert trial_of(state) == Trial(1, running=True, unclean_ends=0)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

        # First unclean end: counted, v1 runs again (a new grace period).
        reply = killed_run(config, listener, city, reported)
        assert reply["status"] == "running" and reply["version"] == 1, reply
        assert trial_of(state) == Trial(1, running=True, unclean_ends=1)

        # Second: rolled back before the agent is built, and reported once it is connected.
        proc = start(config, listener)
        try:
            assert listener.wait_for("READY", pid=proc.pid, timeout=30)
            # Reports of a killed run still in its spool come first (store and forward, in
            # order, so the retained one stays the newest).
            reply = next_report(city, reported, 30, status="rolled-back")
            assert reply["version"] == 0 and reply["rejected_version"] == 1
            assert "ended uncleanly 2 times" in reply["reason"]
            assert "back to the local config" in reply["reason"]
        finally:
            log = stop(proc)
        assert "rolled back at start-up" in log
        assert trial_of(state) is None
        store = RemoteStore(state)
        assert store.applied is None and store.highest_version == 1  # v1 stays used
        assert store.boot_rollback is None  # reported, so not again

        # The next start runs the local config and reports it plainly.
        proc = start(config, listener)
        try:
            assert listener.wait_for("READY", pid=proc.pid, timeout=30)
            reply = next_report(city, reported, 30)
            assert reply["status"] == "running" and reply["version"] == 0
        finally:
            stop(proc)


def test_a_clean_stop_on_trial_is_not_counted_and_last_good_is_the_fallback(
    tmp_path: Path,
) -> None:
    store = RemoteStore(tmp_path)
    store.save_applied(StoredConfig(1, {"v": 1}))
    store.save_last_good(StoredConfig(1, {"v": 1}))
    store.save_applied(StoredConfig(2, {"v": 2}))
    store.save_trial(Trial(2, running=False, unclean_ends=1))  # stopped cleanly
    assert count_unclean_end(RemoteStore(tmp_path), limit=2) is None
    assert RemoteStore(tmp_path).trial == Trial(2, running=False, unclean_ends=1)

    store.save_trial(Trial(2, running=True, unclean_ends=1))
    note = count_unclean_end(RemoteStore(tmp_path), limit=2)
    assert note is not None and note.version == 2 and "last-known-good v1" in note.reason
    after = RemoteStore(tmp_path)
    assert after.applied == StoredConfig(1, {"v": 1}) and after.trial is None
    assert after.boot_rollback == note
    # A config that became last-known-good is never counted.
    after.save_trial(Trial(1, running=True))
    assert count_unclean_end(RemoteStore(tmp_path), limit=1) is None
