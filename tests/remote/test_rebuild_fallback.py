"""A rebuild that cannot be built never ends ``pole-agent run`` (docs/remote.md, "When a rebuild
fails"): real processes on a real broker, the agent rebuilt in-process for a signed remote config
and for a ``reload``, each of which fails to build (its ``zone.calendar_file`` is gone: the
config is valid and the file checks pass, but the warning rules cannot be built without the
calendar). The process keeps running on the config it ran before (a second READY=1, never
STOPPING=1), the remote config is rolled back and reported ``rolled-back`` with the error, the
``reload`` is answered again ``failed`` with the error; SIGTERM still ends it cleanly."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pole_agent.remote.envelope import load_private_key, sign
from pole_agent.remote.store import RemoteStore
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from tests.remote.test_run_loop import ROOT, RunRig, next_report, run_rig, start, stop

GONE = "calendar-that-was-removed.toml"


def signed(rig: RunRig, kind: str, **fields: Any) -> bytes:
    message = {
        "kind": kind,
        "pole_id": rig.pole_id,
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        **fields,
    }
    return json.dumps(sign(message, load_private_key(rig.key_path))).encode()


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    log: str = ""
    """Its stderr, once stopped."""


@contextmanager
def running_pole(rig: RunRig) -> Iterator[Run]:
    """``pole-agent run`` on the rig's config, ready and reporting; SIGTERM on leaving."""
    run = Run(start(rig.config, rig.listener))
    try:
        assert rig.listener.wait_for("READY", pid=run.proc.pid, timeout=30), "no READY=1"
        assert next_report(rig.city, rig.reported, 30)["status"] == "running"
        yield run
    finally:
        if run.proc.poll() is None:
            run.log = stop(run.proc)


def runs_on(rig: RunRig, proc: subprocess.Popen[bytes], what: str) -> None:
    """Rebuilt in the same process (a second READY=1), never told systemd it stops."""
    assert rig.listener.wait_for("READY", count=2, pid=proc.pid, timeout=30), what
    assert proc.poll() is None, f"the agent exited on {what} it could not build"
    assert not rig.listener.of("STOPPING", proc.pid)


def test_a_remote_config_that_cannot_be_built_is_rolled_back_and_the_pole_runs_on(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    with run_rig(tmp_path, broker) as rig, running_pole(rig) as run:
        body = tomllib.loads(rig.config.read_text())
        body["zone"]["calendar_file"] = str(tmp_path / GONE)
        message = signed(rig, "config", version=1, config=body)
        rig.city.publish(topics.config_desired(rig.pole_id), message)
        assert next_report(rig.city, rig.reported, 10)["status"] == "applied"

        # The rebuild fails; the agent is built again with the config it ran (the local one)
        # and reports the rollback with the error.
        report = next_report(rig.city, rig.reported, 30, status="rolled-back")
        assert report["version"] == 0 and report["rejected_version"] == 1, report
        assert "could not be built with v1" in report["reason"], report
        assert "zone.calendar_file" in report["reason"] and GONE in report["reason"], report
        assert "back to the local config" in report["reason"], report
        runs_on(rig, run.proc, "a remote config")
    assert "cannot rebuild the agent with remote config v1" in run.log
    store = RemoteStore(tmp_path / "state")
    assert store.applied is None and store.highest_version == 1  # v1 stays used
    assert store.trial is None and store.boot_rollback is None  # reported, not again
    assert store.counters["applied"] == 1 and store.counters["rolled_back"] == 1


def test_a_reload_that_cannot_be_built_is_answered_failed_and_the_pole_runs_on(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    with run_rig(tmp_path, broker) as rig:
        result_topic = topics.command_result(rig.pole_id, "reload")
        rig.city.subscribe(result_topic)
        good = rig.config.read_text()
        with running_pole(rig) as run:
            # The file passes every check of `reload` (and `config check`): its calendar file is
            # only read when the agent is built.
            rig.config.write_text(
                good.replace("[zone]\n", f'[zone]\ncalendar_file = "{tmp_path / GONE}"\n', 1),
                encoding="utf-8",
            )
            rig.city.publish(
                topics.command(rig.pole_id, "reload"),
                signed(rig, "command", id="reload-1", name="reload", args={}),
            )
            first = next_report(rig.city, result_topic, 10)
            assert first["status"] == "ok" and first["id"] == "reload-1", first

            # The agent rebuilt on the config it ran answers the same command again: failed.
            again = next_report(rig.city, result_topic, 30)
            assert again["status"] == "failed" and again["id"] == "reload-1", again
            assert "could not be built" in again["detail"], again
            assert "the previous config runs again" in again["detail"], again
            assert GONE in again["result"]["error"], again
            runs_on(rig, run.proc, "a reload")
        assert "cannot rebuild the agent with the reloaded local config file" in run.log
        counters = RemoteStore(tmp_path / "state").counters
        assert counters["commands_run"] == 1 and counters["commands_failed"] == 1, counters


def test_when_not_even_the_previous_config_builds_the_process_exits_3_for_systemd(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """The calendar file every config names vanishes under the running agent: a ``reload``
    cannot be built, nor can the config that ran; the process exits 3, a failed start, for
    systemd to restart (docs/remote.md, "When a rebuild fails")."""
    calendar = tmp_path / "calendar.toml"
    calendar.write_bytes((ROOT / "deploy" / "config" / "school-calendar.example.toml").read_bytes())
    with run_rig(tmp_path, broker) as rig:
        text = rig.config.read_text()
        rig.config.write_text(
            text.replace("[zone]\n", f'[zone]\ncalendar_file = "{calendar}"\n', 1),
            encoding="utf-8",
        )
        with running_pole(rig) as run:
            calendar.unlink()
            rig.city.publish(
                topics.command(rig.pole_id, "reload"),
                signed(rig, "command", id="reload-1", name="reload", args={}),
            )
            _, err = run.proc.communicate(timeout=60)
            assert run.proc.returncode == 3, err.decode(errors="replace")[-3000:]
            log = err.decode(errors="replace")
        assert "no config this agent ran can be built any more" in log
        assert rig.listener.of("READY", run.proc.pid)
