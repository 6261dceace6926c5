"""Every command of docs/remote.md made by ``pole-agent fleet sign command`` is accepted by a pole
holding the fleet's public key (signature, name and arguments), and answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pole_agent.cli import main
from pole_agent.clock import ManualClock
from pole_agent.config import parse_config
from pole_agent.health import HealthBoard
from pole_agent.installer.report import CheckResult
from pole_agent.installer.selftest import SelftestReport
from pole_agent.release import generate_keypair
from pole_agent.remote.wiring import build_remote
from pole_agent.telemetry import topics

COMMANDS: list[tuple[str, dict[str, Any], str]] = [
    ("announce", {"clips": ["chime"]}, "failed"),  # accepted; this pole has no speaker
    ("set_message", {"text": "ROAD WORKS", "duration_s": 600}, "failed"),  # and no text sign
    ("set_message", {"clear": True}, "ok"),
    ("reload", {}, "ok"),
    ("rebirth", {}, "ok"),
    ("selftest", {}, "running"),
]


def test_fleet_sign_makes_every_command_a_pole_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = generate_keypair(tmp_path / "keys", "fleet")
    config = parse_config(
        {
            "pole_id": "pole-a",
            "state_dir": str(tmp_path / "state"),
            "radars": {"road": {}},
            "mqtt": {"host": "localhost"},
            "remote": {"enabled": True, "fleet_public_key_file": str(pub)},
        }
    )
    published: list[tuple[str, dict[str, Any]]] = []
    events: list[str] = []
    selftests: list[bool] = []

    def selftest() -> SelftestReport:
        selftests.append(True)
        check = CheckResult(name="disk", outcome="pass", detail="plenty")
        return SelftestReport(
            pole_id="pole-a", version="t", ts="now", agent_running=True, ok=True, checks=[check]
        )

    remote = build_remote(
        config,
        clock=ManualClock(start_wall=datetime.now(UTC)),  # fleet sign stamps real time
        health=HealthBoard(),
        publish=lambda t, p, retain: published.append((t, json.loads(p))),
        rebirth=lambda: events.append("rebirth"),
        voice=lambda: None,
        volume=1.0,
        selftest=selftest,
    )
    assert remote is not None
    remote.on_restart = lambda: events.append("restart")
    remote.load_local = lambda: config  # as `pole-agent run` sets it: the file's checked config
    for index, (name, args, status) in enumerate(COMMANDS):
        argv = ["fleet", "sign", "command", "--pole", "pole-a", "--key", str(key)]
        argv += ["--name", name, "--args", json.dumps(args), "--id", f"c-{index}"]
        assert main(argv) == 0
        message = capsys.readouterr().out
        remote.handler.on_message(topics.command("pole-a", name), message.encode())
        topic, result = published[-1]
        assert topic == topics.command_result("pole-a", name)
        assert result["status"] == status, result
    assert remote.selftest is not None
    remote.selftest.join(10.0)
    assert published[-1][1]["status"] == "ok" and published[-1][1]["result"]["ok"] is True
    assert events == ["restart", "rebirth"] and selftests == [True]
    assert remote.handler.rejected.total() == 0
