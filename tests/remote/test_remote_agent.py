"""The real agent (app wiring, simulated radar, real Mosquitto) under remote management: a signed
desired config is applied and reported within a second, the agent is rebuilt with it as
``pole-agent run`` does, and it is still the config after a restart; a forged one changes
nothing; a command runs once."""

from __future__ import annotations

import json
import queue
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import PoleConfig, RemoteConfig
from pole_agent.release import generate_keypair
from pole_agent.remote.boot import local_or_remote
from pole_agent.remote.envelope import load_private_key, sign
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import World
from tests.integration.harness import sim_config
from tests.remote.mqtt_probe import Probe

APPLY_LIMIT_S = 3.0  # the contract is 1 s; generous for a loaded shared machine


def desired(config: PoleConfig, version: int, hold_s: float) -> dict[str, Any]:
    body = config.model_dump(mode="json", exclude={"config_version"})
    body["warning"]["hold_s"] = hold_s
    return {
        "kind": "config",
        "pole_id": config.pole_id,
        "version": version,
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "config": body,
    }


def build(config: PoleConfig, clock: ScaledClock) -> Agent:
    return build_agent(config, clock, pin_factory=MockFactory(pin_class=MockPWMPin))


def wait_for(probe: Probe, topic: str, timeout_s: float) -> dict[str, Any]:
    """The next message on ``topic`` (others are skipped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            got_topic, payload = probe.messages.get(timeout=0.05)
        except queue.Empty:
            continue
        if got_topic == topic:
            data: dict[str, Any] = json.loads(payload)
            return data
    raise AssertionError(f"nothing on {topic} within {timeout_s} s")


def remote_pole(
    tmp_path: Path, broker: MosquittoBroker
) -> tuple[Ed25519PrivateKey, ScaledClock, Ops243Emulator, PoleConfig, Probe]:
    """A fleet key, the pole's config with remote management and the fleet's public key, its
    simulated radar (not started) and the city's connected probe."""
    key_path, pub_path = generate_keypair(tmp_path / "keys", "fleet")
    clock = ScaledClock(1.0)
    (tmp_path / "dev").mkdir()
    emulator = Ops243Emulator(World([], angle_deg=0.0), clock, tmp_path / "dev", seed=1)
    local = sim_config(tmp_path, radar_port=emulator.port, broker=broker).model_copy(
        update={"remote": RemoteConfig(enabled=True, fleet_public_key_file=pub_path)}
    )
    city = Probe(broker.host, broker.port, "city")
    assert city.connect()
    return load_private_key(key_path), clock, emulator, local, city


def test_a_signed_config_is_applied_within_a_second_and_kept(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    key, clock, emulator, local, city = remote_pole(tmp_path, broker)
    city.subscribe(f"spole/{local.pole_id}/config/reported")
    city.subscribe(f"spole/{local.pole_id}/cmd/+/result")
    agent = build(local_or_remote(local), clock)
    restarts: list[bool] = []
    assert agent.remote is not None
    agent.remote.on_restart = lambda: restarts.append(True)
    emulator.start()
    agent.start()
    try:
        assert agent.mqtt is not None and agent.mqtt.wait_connected(10.0)
        assert wait_for(city, topics.config_reported(local.pole_id), 10.0)["status"] == "running"
        time.sleep(0.3)  # let the subscription settle

        # Forged: signed by another key. Rejected, reported, nothing restarts.
        forged = sign(desired(local, 1, 9.0), Ed25519PrivateKey.generate())
        city.publish(topics.config_desired(local.pole_id), json.dumps(forged).encode())
        reply = wait_for(city, topics.config_reported(local.pole_id), 5.0)
        assert reply["status"] == "rejected" and reply["reason"].startswith("bad-signature")
        assert not restarts

        # Valid: applied and reported within the limit.
        message = sign(desired(local, 1, 9.0), key)
        sent = time.monotonic()
        city.publish(
            topics.config_desired(local.pole_id), json.dumps(message).encode(), retain=True
        )
        reply = wait_for(city, topics.config_reported(local.pole_id), APPLY_LIMIT_S)
        took = time.monotonic() - sent
        assert reply["status"] == "applied" and reply["version"] == 1, reply
        assert took < APPLY_LIMIT_S
        wanted = agent.remote.next_config
        assert restarts and wanted is not None and wanted.kind == "apply", wanted
        new_config = wanted.config
        assert new_config is not None
        assert new_config.warning.hold_s == 9.0 and new_config.config_version == 1

        # A command, and its replay.
        command = sign(
            {
                "kind": "command",
                "id": "rebirth-1",
                "name": "rebirth",
                "pole_id": local.pole_id,
                "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
                "args": {},
            },
            key,
        )
        result_topic = topics.command_result(local.pole_id, "rebirth")
        for expected in ("ok", "rejected"):
            city.publish(topics.command(local.pole_id, "rebirth"), json.dumps(command).encode())
            assert wait_for(city, result_topic, 5.0)["status"] == expected

        # The announce test plays on the (recording) speaker.
        announce = sign(
            {
                "kind": "command",
                "id": "announce-1",
                "name": "announce",
                "pole_id": local.pole_id,
                "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
                "args": {"clips": ["chime"]},
            },
            key,
        )
        city.publish(topics.command(local.pole_id, "announce"), json.dumps(announce).encode())
        result = wait_for(city, topics.command_result(local.pole_id, "announce"), 5.0)
        assert result["status"] == "ok", result
        assert agent.warnings is not None
        voice = agent.warnings.voice
        deadline = time.monotonic() + 10.0
        while not getattr(voice, "played", None) and time.monotonic() < deadline:
            time.sleep(0.05)
        played = list(getattr(voice, "played", []))
        assert played and played[-1].clips == ("chime",), played
    finally:
        agent.stop()

    # The runner rebuilds the agent with the new config, as `pole-agent run` does; it keeps it
    # (the retained desired config is not applied twice) and so does a later restart.
    agent = build(new_config, clock)
    agent.start()
    try:
        assert agent.mqtt is not None and agent.mqtt.wait_connected(10.0)
        assert agent.config.warning.hold_s == 9.0
        # The retained desired config comes again on connect (maybe before the remote part
        # has said it runs): refused as not newer, and the pole still runs version 1.
        replies = [wait_for(city, topics.config_reported(local.pole_id), 5.0) for _ in range(2)]
        by_status = {reply["status"]: reply for reply in replies}
        assert by_status["running"]["version"] == 1
        assert by_status["rejected"]["reason"].startswith("older-version")
        assert by_status["rejected"]["version"] == 1
    finally:
        agent.stop()
        emulator.stop()
        city.close()
    assert local_or_remote(local).warning.hold_s == 9.0
