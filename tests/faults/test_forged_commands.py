"""Reliability row 15 end to end: forged, misaddressed, expired and replayed commands reaching a
running ``pole-agent run`` through a real Mosquitto (the handler's own tests check every reason
in process: tests/remote/test_handler.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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

POLE_ID = "forged-cmd-1"
RESULT = "cmd/rebirth/result"
#: The criterion is 1 s; generous for a loaded shared machine (as tests/remote does).
APPLY_LIMIT_S = 3.0


def test_forged_expired_misaddressed_and_replayed_commands_are_refused(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    """Row 15 -- remote command replayed, expired, for another pole, or forged. Criterion:
    rejected and logged; a valid one applied within 1 s.

    Checked on a running agent process, through the broker, with the ``rebirth`` command (it
    republishes the retained ``online`` status, so its effect is visible): unsigned, signed with
    another key, addressed to another pole and expired commands are each answered ``rejected``
    with that reason on cmd/rebirth/result and have no effect; a valid one is answered ``ok``
    and its effect (a new ``online``) seen within 1 s (checked with a 3 s real limit); sent
    again with the same id it is ``replayed`` and has no effect; every rejection is in the
    agent's log.
    """
    key, pub = generate_keypair(tmp_path / "keys", "fleet")
    city = City(broker, key, POLE_ID)
    topic = topics.command(POLE_ID, "rebirth")
    log_path = tmp_path / "agent.log"

    def command(command_id: str, **fields: Any) -> dict[str, Any]:
        return {**city.envelope("command"), "id": command_id, "name": "rebirth", **fields}

    def answer(sent: int) -> dict[str, Any]:
        assert city.monitor.wait_until(partial(more_than, RESULT, sent, False), 10)
        return city.replies(RESULT)[sent]

    with emulated_radar(tmp_path) as emulator, log_path.open("wb") as log:
        remote = f'[remote]\nenabled = true\nfleet_public_key_file = "{pub}"\n'
        config = pole_config(tmp_path, POLE_ID, emulator, broker, extra=remote)
        try:
            with agent_process(run_argv(config), stderr=log) as agent:
                assert city.monitor.wait_for_state("online", 30)
                # Commands are not retained: wait until the pole listens (it answers on
                # config/reported once its subscriptions are in place).
                assert city.monitor.wait_until(partial(more_than, "config/reported", 0, False), 30)
                births = len(online_boots(city.monitor))

                city.send_unsigned(topic, command("c-1"))
                assert answer(0)["reason"] == "unsigned"
                city.send(topic, command("c-2"), key=Ed25519PrivateKey.generate())
                assert answer(1)["reason"] == "bad-signature"
                city.send(topic, command("c-3", pole_id="another-pole"))
                assert answer(2)["reason"] == "wrong-pole"
                city.send(topic, {**command("c-4"), **city.envelope("command", -60.0)})
                assert answer(3)["reason"] == "expired"
                assert all(r["status"] == "rejected" for r in city.replies(RESULT))
                assert len(online_boots(city.monitor)) == births, "a refused command ran"

                sent_at = city.send(topic, command("c-5"))
                assert answer(4)["status"] == "ok"
                assert city.monitor.wait_until(partial(more_than, "status", births, True), 10)
                rebirth = city.monitor.messages("status")[-1]
                assert rebirth.at - sent_at <= APPLY_LIMIT_S

                city.send(topic, command("c-5"))
                assert answer(5)["reason"] == "replayed"
                assert len(online_boots(city.monitor)) == births + 1, "a replay ran again"
                assert stop_agent(agent)[0] == 0
        finally:
            city.close()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    for reason in ("unsigned", "bad-signature", "wrong-pole", "expired", "replayed"):
        assert f"remote message rejected: {reason}" in log_text, reason
