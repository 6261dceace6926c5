"""The remote handler's checks, on a manual clock with a real store in a temp dir: forged,
replayed, expired, misaddressed, older and malformed config and commands are rejected with the
reason reported; fuzzed payloads never crash it; a valid change is applied, kept across a
restart, and rolled back when the agent turns unhealthy within the grace period."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from pole_agent.clock import ManualClock
from pole_agent.config import PoleConfig, parse_config
from pole_agent.health import HealthBoard
from pole_agent.remote.boot import count_unclean_end
from pole_agent.remote.envelope import sign
from pole_agent.remote.handler import CommandCall, CommandFailedError, RemoteHandler
from pole_agent.remote.rebuild import NextConfig
from pole_agent.remote.store import RemoteStore, Trial
from pole_agent.telemetry import topics

POLE = "pole-a"
LOCAL = {
    "pole_id": POLE,
    "radars": {"road": {}},
    "mqtt": {"host": "localhost"},
    "remote": {"enabled": True},
}


class Rig:
    """A handler with everything it touches observable: what it published, what it applied,
    the commands it ran, and a real health board to make the agent unhealthy."""

    def __init__(self, state_dir: Path, clock: ManualClock, key: Ed25519PrivateKey | None) -> None:
        self.state_dir, self.clock, self.key = state_dir, clock, key
        self.published: list[tuple[str, dict[str, Any], bool]] = []
        self.applied: list[PoleConfig] = []
        self.announced: list[dict[str, Any]] = []
        self.board = HealthBoard()
        self.fail_apply = False
        self.handler = self._build()

    def _build(self) -> RemoteHandler:
        def publish(topic: str, payload: bytes, retain: bool) -> None:
            self.published.append((topic, json.loads(payload), retain))

        def apply(wanted: NextConfig) -> None:
            config = wanted.config
            if config is None:  # back to the local file
                assert wanted.kind == "rollback", wanted
                config = parse_config(LOCAL)
            if self.fail_apply and config.config_version > 0:
                raise RuntimeError("radar port missing")
            self.applied.append(config)

        def announce(call: CommandCall) -> str:
            if "message" in call.args and not isinstance(call.args["message"], str):
                raise CommandFailedError("message must be text")
            self.announced.append(call.args)
            return "played"

        handler = RemoteHandler(
            local_config=parse_config(LOCAL),
            store=RemoteStore(self.state_dir),
            clock=self.clock,
            publish=publish,
            apply=apply,
            failed=lambda: frozenset(
                name for name, part in self.board.snapshot().items() if part.state == "failed"
            ),
            commands={"announce": announce},
            keys=[self.key.public_key()] if self.key else [],
            grace_s=60.0,
        )
        handler.start()
        return handler

    def restart(self) -> None:
        self.handler = self._build()

    def expiry(self, seconds: float = 300.0) -> str:
        return (self.clock.wall() + timedelta(seconds=seconds)).isoformat()

    def config_msg(self, version: int, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "config",
            "pole_id": POLE,
            "version": version,
            "expires_at": self.expiry(),
            "config": {**LOCAL, "warning": {"hold_s": 3.0 + version}},
        }
        body.update(overrides)
        return sign(body, self.key) if self.key else body

    def command_msg(
        self, command_id: str, name: str = "announce", **overrides: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "command",
            "id": command_id,
            "name": name,
            "pole_id": POLE,
            "expires_at": self.expiry(),
            "args": {"message": "test"},
        }
        body.update(overrides)
        return sign(body, self.key) if self.key else body

    def send_config(self, message: dict[str, Any] | bytes) -> dict[str, Any]:
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.handler.on_message(topics.config_desired(POLE), raw)
        topic, payload, retain = self.published[-1]
        assert topic == topics.config_reported(POLE) and retain
        return payload

    def send_command(
        self, message: dict[str, Any] | bytes, name: str = "announce"
    ) -> dict[str, Any]:
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.handler.on_message(topics.command(POLE, name), raw)
        topic, payload, retain = self.published[-1]
        assert topic == topics.command_result(POLE, name) and not retain
        return payload


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def rig(tmp_path: Path, key: Ed25519PrivateKey) -> Rig:
    return Rig(tmp_path / "state", ManualClock(), key)


def test_a_valid_signed_config_is_applied_and_survives_a_restart(rig: Rig) -> None:
    reported = rig.send_config(rig.config_msg(1))
    assert reported["status"] == "applied" and reported["version"] == 1
    assert rig.applied[-1].warning.hold_s == 4.0 and rig.applied[-1].config_version == 1
    rig.restart()
    assert rig.handler.applied_version == 1
    assert rig.handler.effective_config().warning.hold_s == 4.0
    # ... and the same (retained, re-delivered) message is now an older version.
    assert rig.send_config(rig.config_msg(1))["reason"].startswith("older-version")


def reasons(rig: Rig, message: dict[str, Any] | bytes, *, command: bool = False) -> str:
    reported = rig.send_command(message) if command else rig.send_config(message)
    return str(reported["reason"])


def test_bad_configs_are_rejected_with_the_reason(rig: Rig, key: Ed25519PrivateKey) -> None:
    rig.send_config(rig.config_msg(5))
    forged_key = Ed25519PrivateKey.generate()
    unsigned = {k: v for k, v in rig.config_msg(6).items() if k != "signature"}
    tampered = {**rig.config_msg(6), "version": 7}
    cases: list[tuple[dict[str, Any] | bytes, str]] = [
        (b"{not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (unsigned, "unsigned"),
        (sign(unsigned, forged_key), "bad-signature"),
        (tampered, "bad-signature"),
        ({**unsigned, "signature": "%%%"}, "bad-signature"),
        (rig.config_msg(6, pole_id="pole-b"), "wrong-pole"),
        (rig.config_msg(6, config={**LOCAL, "pole_id": "pole-b"}), "wrong-pole"),
        (rig.config_msg(6, expires_at=rig.expiry(-1)), "expired"),
        (rig.config_msg(4), "older-version"),
        (rig.config_msg(5), "older-version"),
        (rig.config_msg(6, config={**LOCAL, "warning": {"hold_s": -1}}), "invalid"),
        (rig.config_msg(6, config={**LOCAL, "no_such_key": 1}), "invalid"),
        (rig.config_msg(6, kind="command"), "invalid"),
        (rig.config_msg(6, config={**LOCAL, "remote": {"enabled": False}}), "invalid"),
        (rig.config_msg(6, config={**LOCAL, "state_dir": "/elsewhere"}), "invalid"),
        (
            rig.config_msg(6, config={**LOCAL, "radars": {"road": {"save_to_flash": True}}}),
            "invalid",
        ),
    ]
    for message, reason in cases:
        reported = rig.send_config(message)
        assert reported["status"] == "rejected", (message, reported)
        assert reported["reason"].startswith(reason + ":"), (reason, reported["reason"])
        assert reported["version"] == 5  # the running config stays
    assert rig.applied[-1].config_version == 5
    invalid = rig.send_config(rig.config_msg(6, config={**LOCAL, "warning": {"hold_s": -1}}))
    assert "warning.hold_s" in invalid["reason"]  # names the key
    flash = {**LOCAL, "radars": {"road": {"save_to_flash": True}}}
    assert "radars.road.save_to_flash" in rig.send_config(rig.config_msg(6, config=flash))["reason"]
    assert rig.handler.rejected["bad-signature"] == 3
    assert rig.send_config(rig.config_msg(6))["status"] == "applied"


def test_commands_run_once_and_bad_ones_are_rejected(rig: Rig) -> None:
    ok = rig.send_command(rig.command_msg("c-1"))
    assert ok["status"] == "ok" and ok["id"] == "c-1" and rig.announced == [{"message": "test"}]
    unsigned = {k: v for k, v in rig.command_msg("c-2").items() if k != "signature"}
    cases: list[tuple[dict[str, Any] | bytes, str]] = [
        (rig.command_msg("c-1"), "replayed"),
        (unsigned, "unsigned"),
        (sign(unsigned, Ed25519PrivateKey.generate()), "bad-signature"),
        (rig.command_msg("c-3", pole_id="pole-b"), "wrong-pole"),
        (rig.command_msg("c-4", name="reload"), "wrong-pole"),  # sent on cmd/announce
        (rig.command_msg("c-5", expires_at=rig.expiry(-5)), "expired"),
        (rig.command_msg("c-6", expires_at=rig.expiry(10 * 86400)), "too-far-ahead"),
        (b"\xff\xfe", "malformed"),
        (rig.command_msg("c 7"), "invalid"),
    ]
    for message, reason in cases:
        assert reasons(rig, message, command=True) == reason, message
    assert len(rig.announced) == 1
    # a config signature cannot pass as a command (kind is signed)
    assert reasons(rig, rig.config_msg(9), command=True) in {"invalid", "bad-signature"}
    failed = rig.send_command(rig.command_msg("c-8", args={"message": 3}))
    assert failed["status"] == "failed" and "text" in failed["detail"]
    rig.handler.on_message(
        topics.command(POLE, "selftest"),
        json.dumps(rig.command_msg("c-9", name="selftest")).encode(),
    )
    assert rig.published[-1][1]["reason"] == "unknown-command"
    # Replay protection survives a restart.
    rig.restart()
    assert reasons(rig, rig.command_msg("c-1"), command=True) == "replayed"


def test_unsigned_messages_pass_when_no_fleet_key_is_configured(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ManualClock(), None)
    assert rig.send_config(rig.config_msg(1))["status"] == "applied"
    assert rig.send_command(rig.command_msg("x"))["status"] == "ok"


def test_an_unhealthy_config_is_rolled_back_to_last_known_good(rig: Rig) -> None:
    assert rig.send_config(rig.config_msg(1))["status"] == "applied"
    rig.clock.advance(61)
    rig.handler.tick()  # v1 ran healthy through its grace period
    assert rig.send_config(rig.config_msg(2))["status"] == "applied"
    rig.clock.advance(10)
    rig.board.report("radar", "failed", "no frames", rig.clock.monotonic())
    rig.handler.tick()
    reported = rig.published[-1][1]
    assert reported["status"] == "rolled-back" and reported["rejected_version"] == 2
    assert reported["version"] == 1
    assert rig.applied[-1].config_version == 1
    rig.restart()  # the rollback is kept
    assert rig.handler.effective_config().config_version == 1
    # v2 is burnt: the city must send a higher version.
    assert reasons(rig, rig.config_msg(2)).startswith("older-version")


def test_a_component_failed_before_the_change_does_not_roll_it_back(rig: Rig) -> None:
    rig.board.report("camera", "failed", "unplugged", rig.clock.monotonic())
    assert rig.send_config(rig.config_msg(1))["status"] == "applied"
    rig.handler.tick()
    assert rig.published[-1][1]["status"] == "applied"
    rig.board.report("radar", "failed", "no frames", rig.clock.monotonic())
    rig.handler.tick()
    reported = rig.published[-1][1]
    assert reported["status"] == "rolled-back" and "radar failed" in reported["reason"]
    assert "camera" not in reported["reason"]


def test_a_config_that_cannot_be_applied_falls_back_to_the_local_file(rig: Rig) -> None:
    rig.fail_apply = True
    reported = rig.send_config(rig.config_msg(1))
    assert reported["status"] == "rolled-back" and "radar port missing" in reported["reason"]
    assert rig.applied[-1].config_version == 0  # the local file's config


def test_a_pending_config_gets_a_new_grace_period_after_a_restart(rig: Rig) -> None:
    rig.send_config(rig.config_msg(1))
    rig.restart()  # crashed before the grace period ended
    rig.handler.tick()
    assert rig.published[-1][1]["status"] == "running"
    rig.board.report("radar", "failed", "no frames", rig.clock.monotonic())
    rig.handler.tick()
    assert rig.published[-1][1]["status"] == "rolled-back"
    assert rig.handler.effective_config().config_version == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    payload=st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["config", "command"]), "pole_id": st.just(POLE)},
            optional={
                "version": json_values,
                "id": json_values,
                "name": json_values,
                "expires_at": json_values,
                "config": json_values,
                "args": json_values,
                "signature": json_values,
            },
        ).map(lambda v: json.dumps(v).encode()),
    ),
    command=st.booleans(),
)
def test_fuzzed_payloads_never_crash_and_are_always_answered(
    tmp_path_factory: pytest.TempPathFactory, payload: bytes, command: bool
) -> None:
    rig = Rig(tmp_path_factory.mktemp("fuzz"), ManualClock(), Ed25519PrivateKey.generate())
    before = len(rig.published)
    topic = topics.command(POLE, "announce") if command else topics.config_desired(POLE)
    rig.handler.on_message(topic, payload)
    assert len(rig.published) == before + 1
    assert rig.published[-1][1]["status"] == "rejected"
    assert rig.handler.rejected["internal-error"] == 0
    assert rig.announced == [] and rig.handler.applied_version == 0


def test_the_trial_is_marked_running_until_a_clean_stop_or_last_known_good(rig: Rig) -> None:
    assert rig.send_config(rig.config_msg(1))["status"] == "applied"
    store = RemoteStore(rig.state_dir)
    assert store.trial == Trial(1, running=True, unclean_ends=0)
    rig.handler.stop(new_config_follows=True)  # rebuilt in-process with v1: still on trial
    assert RemoteStore(rig.state_dir).trial == Trial(1, running=True, unclean_ends=0)
    rig.restart()  # the rebuilt agent
    rig.handler.stop(new_config_follows=False)  # SIGTERM: a clean end
    assert RemoteStore(rig.state_dir).trial == Trial(1, running=False, unclean_ends=0)
    assert count_unclean_end(RemoteStore(rig.state_dir), limit=1) is None
    rig.restart()  # marked running again, with its grace period
    assert RemoteStore(rig.state_dir).trial == Trial(1, running=True, unclean_ends=0)
    rig.clock.advance(61)
    rig.handler.tick()
    assert RemoteStore(rig.state_dir).trial is None  # last-known-good now: never counted
    assert RemoteStore(rig.state_dir).last_good is not None
    assert rig.handler.counters() == {  # kept across the rebuilds and restarts
        "rejected": {},
        "rejected_total": 0,
        "applied": 1,
        "rolled_back": 0,
        "commands_run": 0,
        "commands_failed": 0,
    }
