"""The ``set_message`` command on the real warning outputs and sign drivers, on a manual clock: the
operator text goes over SPSIGN/1 on a pty, a child warning takes the sign and gives it back, the
text ends at its expiry, on ``clear`` and when the broker has been unreachable past
``[remote].comms_loss_s`` (reliability row 19); bad arguments are rejected naming what is wrong;
a sign of GPIO preset lines refuses a text and its pins stay the warnings'."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pole_agent.board_profile import BoardProfile
from pole_agent.clock import ManualClock
from pole_agent.config import PoleConfig, parse_config
from pole_agent.ports import PedestrianSeen, VehicleApproaching
from pole_agent.remote.envelope import Rejected
from pole_agent.remote.operator_message import parse_set_message, sign_code
from pole_agent.remote.wiring import RemoteParts, build_remote
from pole_agent.status_socket import operator_text_item
from pole_agent.telemetry import topics
from tests.decisions.scenario import SIGN
from tests.decisions.test_serial_sign import FakeSign
from tests.decisions.test_serial_sign import sign as pty_sign  # noqa: F401 (fixture)
from tests.decisions.test_warning_outputs import MORNING, V2
from tests.pole_rig import WarningSide, serial_sign_board, wait_until
from tests.remote.test_handler import json_values

POLE = "pole-m"


@dataclass
class Pole(WarningSide):
    """Warning outputs on a board and the remote part of an agent, with a broker link state the
    test sets."""

    remote: RemoteParts = field(init=False)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list, init=False)
    link: list[str] = field(default_factory=lambda: ["connected"], init=False)

    def step(self, seconds: float, dt: float = 0.1) -> None:
        """Advance the clock, refreshing as the radar reader and the remote thread would."""
        super().step(seconds, dt)

    def tick(self) -> None:
        self.remote.tick()

    def command(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        message = {
            "kind": "command",
            "id": command_id,
            "name": "set_message",
            "pole_id": POLE,
            "expires_at": (self.clock.wall() + timedelta(minutes=5)).isoformat(),
            "args": args,
        }
        topic = topics.command(POLE, "set_message")
        self.remote.handler.on_message(topic, json.dumps(message).encode())
        result_topic, result = self.published[-1]
        assert result_topic == topics.command_result(POLE, "set_message")
        return result

    def child_warning(self) -> None:
        now = self.clock.monotonic()
        self.parts.outputs.vehicle(VehicleApproaching(t=now, speed_kmh=40.0))
        self.parts.outputs.pedestrian(PedestrianSeen(t=now, kind="child"))

    def close(self) -> None:
        self.remote.stop()
        super().close()


def pole_config(tmp_path: Path) -> PoleConfig:
    return parse_config(
        {
            "pole_id": POLE,
            "state_dir": str(tmp_path / "state"),
            "radars": {"road": {"port": "/dev/null"}},
            "audio": {"player": "off"},
            "mqtt": {"host": "localhost"},
            "remote": {"enabled": True, "message_max_chars": 24, "comms_loss_s": 60},
        }
    )


def make_pole(tmp_path: Path, profile: BoardProfile) -> Pole:
    config = pole_config(tmp_path)
    clock = ManualClock(start_wall=MORNING, start_monotonic=100.0)
    pole = Pole.build(config, profile, clock)
    remote = build_remote(
        config,
        clock=clock,
        health=pole.health,
        publish=lambda t, p, retain: pole.published.append((t, json.loads(p))),
        rebirth=lambda: None,
        voice=lambda: None,
        volume=1.0,
        operator_sign=lambda: pole.parts.operator_sign,
        link_state=lambda: pole.link[-1],
    )
    assert remote is not None
    pole.remote = remote
    pole.start()
    remote.handler.start()
    return pole


@pytest.fixture
def serial_pole(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Pole, FakeSign]]:
    """A pole whose sign is a serial controller (the pty fixture of the serial sign tests)."""
    controller: FakeSign = request.getfixturevalue("pty_sign")
    made = make_pole(tmp_path, serial_sign_board(controller.slave_path))
    yield made, controller
    made.close()


def shown_text(pole: Pole) -> str | None:
    """The operator text in force (None: none)."""
    operator = pole.parts.operator_sign
    assert operator is not None
    item = operator.operator_text
    return None if item is None else item.text


def last_message(end: FakeSign) -> str:
    return [line for line in end.lines if line.startswith("M ")][-1]


def shows(end: FakeSign, line: str) -> bool:
    """Whether the sign's last message line becomes ``line`` (the link thread sends it)."""
    return wait_until(lambda: last_message(end) == line, 5.0)


TEXT = "ROAD WORKS: USE DETOUR"
SHOWN = f'M "{TEXT}"'


def test_a_child_warning_takes_the_sign_and_gives_the_text_back(
    serial_pole: tuple[Pole, FakeSign],
) -> None:
    pole, controller = serial_pole
    pole.step(1.0)
    result = pole.command({"text": TEXT, "duration_s": 120}, "m-1")
    assert result["status"] == "ok" and TEXT in result["detail"], result
    pole.step(0.2)
    assert controller.wait_for(SHOWN)

    pole.child_warning()
    assert controller.wait_for("M child_crossing")
    assert last_message(controller) == "M child_crossing"
    sent_before = len(controller.lines)
    pole.step(1.0)  # the warning holds: the text stays off
    assert SHOWN not in controller.lines[sent_before:]
    # What `pole-agent status` shows meanwhile: the text, under the warning, its time left.
    held = operator_text_item(pole.parts.operator_sign, pole.clock.monotonic())
    assert held is not None and held.text == TEXT and not held.shown
    assert held.seconds_left == pytest.approx(120.0 - 1.2, abs=0.05)

    pole.step(15.0)  # warning over (hold), the text still valid: it comes back
    assert shows(controller, SHOWN)
    assert [line for line in controller.lines if line.startswith("M ")][-3:] == [
        SHOWN,
        "M child_crossing",
        SHOWN,
    ]

    back = operator_text_item(pole.parts.operator_sign, pole.clock.monotonic())
    assert back is not None and back.shown
    pole.step(120.0)  # expired on the monotonic clock
    assert shows(controller, "M -")
    assert operator_text_item(pole.parts.operator_sign, pole.clock.monotonic()) is None
    assert pole.parts.operator_sign is not None
    assert pole.parts.operator_sign.ended[-1] == (TEXT, "expired")
    assert pole.remote.handler.counts.commands_run == 1


def test_clear_and_comms_loss_remove_the_text(serial_pole: tuple[Pole, FakeSign]) -> None:
    pole, controller = serial_pole
    pole.step(1.0)
    assert pole.command({"text": TEXT, "duration_s": 3600}, "m-1")["status"] == "ok"
    pole.step(0.2)
    assert controller.wait_for(SHOWN)
    cleared = pole.command({"clear": True}, "m-2")
    assert cleared["status"] == "ok" and "removed" in cleared["detail"]
    pole.step(0.2)
    assert shows(controller, "M -")
    assert pole.command({"clear": True}, "m-3")["detail"] == "no operator text was on the sign"

    # Broker lost: the text stays until comms_loss_s (60 s), then goes, and does not come back
    # when the broker does.
    assert pole.command({"text": TEXT, "duration_s": 3600}, "m-4")["status"] == "ok"
    pole.step(0.2)
    assert shows(controller, SHOWN)
    pole.link.append("unreachable, retrying")
    pole.step(59.0)
    assert last_message(controller) == SHOWN
    pole.step(1.5)
    operator = pole.parts.operator_sign
    assert operator is not None and shown_text(pole) is None
    assert "comms loss" in operator.ended[-1][1]
    assert shows(controller, "M -")
    pole.link.append("connected")
    pole.step(2.0)
    assert last_message(controller) == "M -"
    # A short outage (under the threshold) leaves a new text alone.
    assert pole.command({"text": "FAIR TODAY", "duration_s": 600}, "m-5")["status"] == "ok"
    pole.link.append("disconnected, retrying")
    pole.step(30.0)
    pole.link.append("connected")
    pole.step(40.0)
    assert shown_text(pole) == "FAIR TODAY"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"text": "X" * 25, "duration_s": 60}, "25 characters, the sign shows 24"),
        ({"text": "어린이 보호구역", "duration_s": 60}, "characters the sign cannot show"),
        ({"text": 'SAY "HI"', "duration_s": 60}, "characters the sign cannot show: '\"'"),
        ({"text": "LINE\nBREAK", "duration_s": 60}, "cannot show: '\\n'"),
        ({"text": "   ", "duration_s": 60}, "args.text: empty"),
        ({"text": "OK", "duration_s": 5}, "args.duration_s: 5 s is outside 10..86400 s"),
        ({"text": "OK", "duration_s": 8 * 86400}, "is outside 10..86400 s"),
        ({"text": "OK"}, "text and duration_s are both required"),
        ({"text": "OK", "duration_s": 60, "colour": "red"}, "colour: unknown key"),
        ({"clear": True, "text": "OK"}, "clear takes no text"),
        ({"text": 42, "duration_s": 60}, "text"),
        ({"text": "OK", "duration_s": "long"}, "duration_s"),
    ],
)
def test_bad_arguments_are_rejected_naming_what_is_wrong(
    serial_pole: tuple[Pole, FakeSign], args: dict[str, Any], named: str
) -> None:
    pole, controller = serial_pole
    pole.step(0.5)
    result = pole.command(args, "bad")
    assert result["status"] == "rejected" and result["reason"] == "invalid", result
    assert named in result["detail"], result["detail"]
    assert pole.remote.handler.rejected["invalid"] == 1
    assert pole.remote.handler.counters()["rejected_total"] == 1
    pole.step(0.5)
    assert not any(line.startswith('M "') for line in controller.lines)


def test_a_sign_of_preset_lines_refuses_a_text(tmp_path: Path) -> None:
    pole = make_pole(tmp_path, V2)
    try:
        pole.step(1.0)
        result = pole.command({"text": TEXT, "duration_s": 120}, "m-1")
        assert result["status"] == "failed" and "only preset inputs" in result["detail"]
        assert pole.remote.handler.counters()["commands_failed"] == 1
        pole.child_warning()
        pole.step(0.2)
        assert pole.factory.pin(SIGN["child_crossing"]).state
        assert not any(pole.factory.pin(g).state for m, g in SIGN.items() if m != "child_crossing")
        pole.step(20.0)
        assert not any(pole.factory.pin(g).state for g in SIGN.values())
    finally:
        pole.close()


@given(
    args=st.dictionaries(
        st.sampled_from(["text", "duration_s", "clear", "colour"]), json_values, max_size=4
    )
)
def test_any_arguments_are_taken_or_rejected_never_a_crash(args: dict[str, Any]) -> None:
    try:
        parsed = parse_set_message(args, max_chars=24, max_s=3600)
    except Rejected as rejected:
        assert rejected.reason == "invalid" and rejected.detail
        return
    if parsed.clear:
        assert parsed.text is None and parsed.duration_s is None
    else:
        assert parsed.text is not None and parsed.duration_s is not None
        assert 0 < len(parsed.text) <= 24 and 10 <= parsed.duration_s <= 3600
        assert sign_code(parsed.text).count('"') == 2


def test_argument_types_are_not_guessed() -> None:
    for args in ({"clear": "yes"}, {"text": "OK", "duration_s": True}):
        with pytest.raises(Rejected, match="invalid"):
            parse_set_message(args, max_chars=24, max_s=3600)
    assert parse_set_message({"text": "OK", "duration_s": 60}, max_chars=24, max_s=3600).text
