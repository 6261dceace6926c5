"""Reliability row 14: bad configuration, local and remote, reaching a running ``pole-agent run``
(a separate process, as on a pole: real Mosquitto, the OPS243 emulator on a pty, remote
management on with a fleet signing key)."""

from __future__ import annotations

import tomllib
from functools import partial
from pathlib import Path
from typing import Any

from pole_agent.installer.toml_out import dumps
from pole_agent.release import generate_keypair
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from tests.faults.agent_process import (
    agent_process,
    emulated_radar,
    pole_config,
    run_argv,
    stop_agent,
)
from tests.faults.city import City, more_than, online_boots

POLE_ID = "bad-config-1"

#: (a change to the config, the key its rejection must name): a wrong type, an unknown key and
#: an out-of-range value.
BAD_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"warning": {"hold_s": "long"}}, "warning.hold_s"),
    ({"zone": {"speed_limit_kmhh": 30}}, "zone.speed_limit_kmhh"),
    ({"radars": {"road": {"baud": 1234}}}, "radars.road.baud"),
]


def merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def reload_answer(city: City, name: str) -> dict[str, Any]:
    """Send a signed ``reload`` and return the pole's final answer to it. A rebuilt agent says
    ``online`` just before it subscribes (a clean MQTT session), so a command sent at once can
    miss it: as an operator would, send again (a new id) until the pole answers."""
    answered = len(city.replies("cmd/reload/result"))
    for attempt in range(18):
        command_id = f"reload-{name}-{attempt}"
        command = {**city.envelope("command"), "id": command_id, "name": "reload"}
        city.send(topics.command(POLE_ID, "reload"), command)
        if city.monitor.wait_until(partial(more_than, "cmd/reload/result", answered, False), 5):
            break
    replies = city.replies("cmd/reload/result")[answered:]
    assert replies, f"no answer to reload ({name})"
    return replies[-1]


def test_bad_config_local_and_remote_is_refused_and_the_running_config_stays(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 14 -- bad config (local file or remote desired config): wrong types, unknown keys,
    out-of-range values. Criterion: rejected with a message naming the key; the running config
    stays; remote rejection reported on config/reported.

    Checked on a running agent process: three signed remote configs (a wrong type, an unknown
    key, an out-of-range value) are each answered ``rejected`` on config/reported with a reason
    naming the key and the version in force unchanged, and the agent is not restarted (same
    boot id); then the local file is broken the same three ways and a signed ``reload`` command
    is sent: the file is checked before anything stops, so the command is answered ``failed``
    with each problem naming the key (detail and ``result.problems``), the problem is logged and
    the agent is not restarted (same boot id, never exits); a ``reload`` with the file good
    again is answered ``ok`` and rebuilds the agent (a new boot); it stops cleanly on SIGTERM.
    """
    key, pub = generate_keypair(tmp_path / "keys", "fleet")
    city = City(broker, key, POLE_ID)
    log_path = tmp_path / "agent.log"
    with emulated_radar(tmp_path) as emulator, log_path.open("wb") as log:
        remote = f'[remote]\nenabled = true\nfleet_public_key_file = "{pub}"\n'
        config = pole_config(tmp_path, POLE_ID, emulator, broker, extra=remote)
        good_text = config.read_text(encoding="utf-8").replace(
            'state_dir = "state"', f'state_dir = "{tmp_path / "state"}"'
        )
        config.write_text(good_text, encoding="utf-8")
        good = tomllib.loads(good_text)
        try:
            with agent_process(run_argv(config), stderr=log) as agent:
                assert city.monitor.wait_for_state("online", 30)
                assert city.monitor.wait_until(lambda m: bool(city.replies("config/reported")), 30)
                boot = online_boots(city.monitor)[-1]

                # Remote: each bad desired config is rejected, naming the key.
                for version, (change, key_name) in enumerate(BAD_CHANGES, start=1):
                    seen = len(city.replies("config/reported"))
                    message = {
                        **city.envelope("config"),
                        "version": version,
                        "config": merged(good, change),
                    }
                    city.send(topics.config_desired(POLE_ID), message)
                    assert city.monitor.wait_until(
                        partial(more_than, "config/reported", seen, False), 10
                    ), key_name
                    reply = city.replies("config/reported")[-1]
                    assert reply["status"] == "rejected", reply
                    assert key_name in reply["reason"], (key_name, reply)
                    assert reply["version"] == 0, reply  # the local config is still in force
                assert online_boots(city.monitor) == [boot], "a rejected config restarted the agent"

                # Local: the file is broken, then the city asks for a reload.
                for n, (change, key_name) in enumerate(BAD_CHANGES):
                    config.write_text(dumps(merged(good, change)), encoding="utf-8")
                    answer = reload_answer(city, f"bad-{n}")
                    assert answer["status"] == "failed", answer
                    assert key_name in answer["detail"], (key_name, answer)
                    assert any(key_name in p for p in answer["result"]["problems"]), answer
                    assert online_boots(city.monitor) == [boot], "a refused reload restarted"
                    assert agent.poll() is None, "the agent exited on a bad local file"

                # The file is good again: the reload is answered ok and the agent rebuilt.
                config.write_text(good_text, encoding="utf-8")
                answer = reload_answer(city, "good")
                assert answer["status"] == "ok", answer
                assert city.monitor.wait_until(partial(more_than, "status", 1, True), 90), (
                    f"not back online after a reload with a good file ({agent.poll()=})"
                )
                assert agent.poll() is None, "the agent exited on a bad local file"
                assert stop_agent(agent)[0] == 0
        finally:
            city.close()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    for _, key_name in BAD_CHANGES:
        assert key_name in log_text, key_name
