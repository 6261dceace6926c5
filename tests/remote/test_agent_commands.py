"""The real agent (app wiring, simulated radar, mock pins, real Mosquitto) answering the commands
added for issue 8's remainder: ``selftest`` runs the installer's self-test on a worker and answers
with its summary while the self-test publishes its own report; ``set_message`` on a board whose
sign has only preset lines fails and says why; and the health report carries the remote counters
(rejections by reason, commands run and failed), valid against the published schema. The remote
self-test connects under a client id of its own: a daily self-test connected at the same time
keeps its session. A self-test
asked for while one runs is answered ``busy`` (checked on the runner, a self-test held open)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pole_agent.installer.report import CheckResult
from pole_agent.installer.selftest import SelftestReport, selftest_topic
from pole_agent.remote.boot import local_or_remote
from pole_agent.remote.envelope import Rejected, sign
from pole_agent.remote.handler import CommandCall
from pole_agent.remote.selftest_command import SelftestCommand
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from tests.remote.mqtt_probe import Probe
from tests.remote.test_remote_agent import build, remote_pole, wait_for
from tests.telemetry.rig import schema_validator


def gather(
    probe: Probe, until: Callable[[list[tuple[str, dict[str, Any]]]], bool], timeout_s: float
) -> list[tuple[str, dict[str, Any]]]:
    """Every message, in arrival order, until ``until`` holds for them."""
    got: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout_s
    while not until(got) and time.monotonic() < deadline:
        try:
            topic, payload = probe.messages.get(timeout=0.05)
        except queue.Empty:
            continue
        got.append((topic, json.loads(payload)))
    assert until(got), f"after {timeout_s} s: {got}"
    return got


def command(pole_id: str, name: str, command_id: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "command",
        "id": command_id,
        "name": name,
        "pole_id": pole_id,
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "args": args,
    }


def test_selftest_set_message_and_the_counters_in_the_health_report(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    key, clock, emulator, local, city = remote_pole(tmp_path, broker)
    pole = local.pole_id
    for topic in (topics.command_result(pole, "+"), selftest_topic(pole), topics.health(pole)):
        city.subscribe(topic)
    agent = build(local_or_remote(local), clock)
    emulator.start()
    agent.start()

    def send(name: str, message: dict[str, Any]) -> None:
        city.publish(topics.command(pole, name), json.dumps(message).encode())

    try:
        assert agent.mqtt is not None and agent.mqtt.wait_connected(10.0)
        time.sleep(0.3)  # let the subscription settle

        # The daily `pole-agent selftest` is connected (its documented client id) while the
        # remote one runs: the remote one must not take its session over.
        daily = Probe(broker.host, broker.port, f"spole-{pole}-selftest")
        assert daily.connect()
        send("selftest", sign(command(pole, "selftest", "st-1", {}), key))
        result_topic = topics.command_result(pole, "selftest")

        def answered(got: list[tuple[str, dict[str, Any]]]) -> bool:
            return any(t == selftest_topic(pole) for t, _ in got) and any(
                t == result_topic and m["status"] == "ok" for t, m in got
            )

        # The self-test's own report (its own connection) may come before or after 'running'
        # (through the agent's spool); the final answer comes after both.
        got = gather(city, answered, 60.0)
        assert not daily.disconnected.is_set(), "the remote self-test took the daily's session"
        daily.close()
        results = [m for t, m in got if t == result_topic]
        assert [m["status"] for m in results] == ["running", "ok"], results
        done = results[-1]
        assert done["id"] == "st-1"
        published = SelftestReport.model_validate(
            next(m for t, m in got if t == selftest_topic(pole))
        )
        summary = done["result"]
        assert published.agent_running  # it read the agent through its status socket
        assert summary["ok"] == published.ok
        assert summary["outcomes"] == {c.name: c.outcome for c in published.checks}
        assert summary["outcomes"]["broker reachable"] == "pass"
        assert done["detail"].startswith("self-test PASSED" if published.ok else "self-test FAILED")

        # The simulator's board drives its sign through preset lines: no text possible.
        send(
            "set_message",
            sign(command(pole, "set_message", "m-1", {"text": "HI", "duration_s": 60}), key),
        )
        failed = wait_for(city, topics.command_result(pole, "set_message"), 5.0)
        assert failed["status"] == "failed" and "only preset inputs" in failed["detail"]
        send("set_message", sign(command(pole, "set_message", "m-2", {"text": "HI"}), key))
        invalid = wait_for(city, topics.command_result(pole, "set_message"), 5.0)
        assert invalid["status"] == "rejected" and invalid["reason"] == "invalid"
        forged = sign(command(pole, "rebirth", "r-1", {}), Ed25519PrivateKey.generate())
        send("rebirth", forged)
        assert wait_for(city, topics.command_result(pole, "rebirth"), 5.0)["reason"] == (
            "bad-signature"
        )
        send("selftest", sign(command(pole, "selftest", "st-1", {}), key))
        assert wait_for(city, result_topic, 5.0)["reason"] == "replayed"

        assert agent.telemetry_timer is not None
        agent.telemetry_timer.publish_health()
        health = wait_for(city, topics.health(pole), 10.0)
        schema_validator("health").validate(health)
        assert health["remote"] == {
            "rejected": {"bad-signature": 1, "invalid": 1, "replayed": 1},
            "rejected_total": 3,
            "applied": 0,
            "rolled_back": 0,
            "commands_run": 1,
            "commands_failed": 1,
        }
    finally:
        agent.stop()
        emulator.stop()
        city.close()


def is_busy(runner: SelftestCommand) -> bool:
    return runner.busy  # a call: mypy must not keep the narrowing of the property


def test_a_selftest_while_one_runs_is_busy() -> None:
    release = threading.Event()
    started = threading.Event()
    replies: list[tuple[str, str, dict[str, Any] | None]] = []

    def held_selftest() -> SelftestReport:
        started.set()
        assert release.wait(10.0)
        check = CheckResult(name="disk", outcome="fail", detail="full", fix="free some")
        return SelftestReport(
            pole_id="p", version="t", ts="now", agent_running=True, ok=False, checks=[check]
        )

    runner = SelftestCommand(held_selftest)

    def call(command_id: str) -> CommandCall:
        return CommandCall(command_id, "selftest", {}, lambda *r: replies.append(r))

    assert runner(call("a")) is None  # answered later
    assert started.wait(10.0) and is_busy(runner)
    with pytest.raises(Rejected) as refused:
        runner(call("b"))
    assert refused.value.reason == "busy"
    release.set()
    runner.join(10.0)
    assert not is_busy(runner)
    assert replies == [
        (
            "ok",
            "self-test FAILED: disk (1 checks)",
            {
                "ok": False,
                "ts": "now",
                "checks": 1,
                "failed": ["disk"],
                "warned": [],
                "outcomes": {"disk": "fail"},
            },
        )
    ]
    # Free again: the next one runs.
    release.clear()
    assert runner(call("c")) is None
    release.set()
    runner.join(10.0)
    assert len(replies) == 2 and runner.runs == 2
