"""The ``reload`` command checks the local file before anything stops (reliability row 14): a file
with problems is answered ``failed`` naming each key, and the agent is not asked to restart; a
good one is kept for the rebuild; an agent started from no file has nothing to reload. The whole
process (``pole-agent run`` on a real broker) is tests/faults/test_bad_config.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pole_agent.cli import load_checked_or_raise
from pole_agent.clock import ManualClock
from pole_agent.config import parse_config
from pole_agent.health import HealthBoard
from pole_agent.installer.toml_out import dumps
from pole_agent.remote.rebuild import FailedReload, NextConfig
from pole_agent.remote.wiring import RemoteParts, build_remote
from pole_agent.telemetry import topics

POLE = "pole-r"


def reload_answer(remote: RemoteParts, published: list[dict[str, Any]], n: int) -> dict[str, Any]:
    message = {
        "kind": "command",
        "id": f"reload-{n}",
        "name": "reload",
        "pole_id": POLE,
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "args": {},
    }
    remote.handler.on_message(topics.command(POLE, "reload"), json.dumps(message).encode())
    return published[-1]


def test_reload_checks_the_file_before_anything_stops(tmp_path: Path) -> None:
    body: dict[str, Any] = {
        "pole_id": POLE,
        "state_dir": str(tmp_path / "state"),
        "radars": {"road": {"port": "/dev/null"}},
        "outputs": {"board": "spole-rpi4-v1"},
        "mqtt": {"host": "localhost"},
        "remote": {"enabled": True},
    }
    file = tmp_path / "pole.toml"
    file.write_text(dumps(body), encoding="utf-8")
    config = parse_config(body)
    published: list[dict[str, Any]] = []
    restarts: list[str] = []
    remote = build_remote(
        config,
        clock=ManualClock(start_wall=datetime.now(UTC)),
        health=HealthBoard(),
        publish=lambda t, p, retain: published.append(json.loads(p)),
        rebirth=lambda: None,
        voice=lambda: None,
        volume=1.0,
    )
    assert remote is not None
    remote.on_restart = lambda: restarts.append("restart")

    answer = reload_answer(remote, published, 0)  # not started from a file
    assert answer["status"] == "failed" and "nothing to reload" in answer["detail"], answer

    remote.load_local = lambda: load_checked_or_raise(file)  # as `pole-agent run` sets it
    bad = {**body, "warning": {"hold_s": "long"}, "zone": {"speed_limit_kmhh": 30}}
    file.write_text(dumps(bad), encoding="utf-8")
    answer = reload_answer(remote, published, 1)
    assert answer["status"] == "failed", answer
    problems = answer["result"]["problems"]
    assert answer["result"]["file"] == str(file)
    assert any(p.startswith("warning.hold_s") for p in problems), problems
    assert any(p.startswith("zone.speed_limit_kmhh") for p in problems), problems
    assert "warning.hold_s" in answer["detail"] and "the running config stays" in answer["detail"]
    assert restarts == [] and not remote.restart_pending()

    file.write_text(dumps({**body, "outputs": {"board": "no-such-board"}}), encoding="utf-8")
    answer = reload_answer(remote, published, 2)  # valid, but the start-up file checks refuse it
    assert answer["status"] == "failed" and "outputs.board" in answer["detail"], answer
    assert restarts == []

    file.write_text(dumps({**body, "warning": {"hold_s": 7.0}}), encoding="utf-8")
    answer = reload_answer(remote, published, 3)
    assert answer["status"] == "ok", answer
    assert restarts == ["restart"] and remote.restart_pending()
    wanted = remote.next_config
    assert wanted is not None and wanted.kind == "reload" and wanted.command_id == "reload-3"
    assert wanted.config is not None and wanted.config.warning.hold_s == 7.0
    assert not wanted.keeps_trial  # not a new remote config: its trial is not kept going


def test_one_next_config_a_reload_never_replaces_a_remote_change(tmp_path: Path) -> None:
    """``next_config`` is the one request to rebuild: the latest wins, except that a ``reload``
    does not replace a remote config applied or rolled back and not yet rebuilt; an agent rebuilt
    after a ``reload`` that could not be built answers that command again, ``failed``."""
    body: dict[str, Any] = {
        "pole_id": POLE,
        "state_dir": str(tmp_path / "state"),
        "radars": {"road": {}},
        "mqtt": {"host": "localhost"},
        "remote": {"enabled": True},
    }
    config = parse_config(body)
    published: list[tuple[str, dict[str, Any]]] = []
    remote = build_remote(
        config,
        clock=ManualClock(start_wall=datetime.now(UTC)),
        health=HealthBoard(),
        publish=lambda t, p, retain: published.append((t, json.loads(p))),
        rebirth=lambda: None,
        voice=lambda: None,
        volume=1.0,
    )
    assert remote is not None
    restarts: list[NextConfig | None] = []
    remote.on_restart = lambda: restarts.append(remote.next_config)
    applied = NextConfig("apply", config)
    remote.request(applied)
    remote.request(NextConfig("reload", config, "r-1"))
    assert remote.next_config == applied and applied.keeps_trial
    rollback = NextConfig("rollback")  # back to the local file
    remote.request(rollback)
    assert remote.next_config == rollback and not rollback.keeps_trial
    assert restarts == [applied, applied, rollback]

    remote.failed_reload = FailedReload("r-1", "the agent could not be built ...", "gone")
    remote.start()
    try:
        topic, answer = published[-1]
    finally:
        remote.stop()
    assert topic == topics.command_result(POLE, "reload")
    assert answer["id"] == "r-1" and answer["status"] == "failed", answer
    assert answer["result"] == {"error": "gone"}
    assert remote.handler.counters()["commands_failed"] == 1
