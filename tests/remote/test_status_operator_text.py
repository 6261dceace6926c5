"""`pole-agent status` shows the city's operator text (``set_message``): the real agent (app wiring,
simulated radar, mock pins, a serial sign on a pty, real Mosquitto) read through its status
socket, in the human and the JSON output, with the seconds left; gone once it is cleared."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.app import build_agent
from pole_agent.cli import main
from pole_agent.installer.toml_out import dumps
from pole_agent.remote.envelope import sign
from pole_agent.status_socket import StatusSnapshot, query, socket_path
from pole_agent.telemetry import topics
from simulator.broker import MosquittoBroker
from tests.decisions.test_serial_sign import FakeSign
from tests.decisions.test_serial_sign import sign as pty_sign  # noqa: F401 (fixture)
from tests.remote.test_agent_commands import command
from tests.remote.test_remote_agent import remote_pole, wait_for

BOARD = "serial-sign-board"


def status(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """`pole-agent status --socket PATH`, as a person runs it."""
    assert main(["status", "--socket", str(path), *extra]) == 0
    return capsys.readouterr().out


def test_status_shows_the_operator_text_and_its_time_left(
    tmp_path: Path,
    broker: MosquittoBroker,
    pty_sign: FakeSign,  # noqa: F811 (the fixture)
    capsys: pytest.CaptureFixture[str],
) -> None:
    hw = tmp_path / "hw"
    hw.mkdir()
    board: dict[str, Any] = {
        "name": BOARD,
        "outputs": [{"name": "beacon", "role": "beacon", "gpio": 17}],
        "speed_display": {"kind": "serial", "port": pty_sign.slave_path, "baud": 9600},
    }
    (hw / f"{BOARD}.toml").write_text(dumps(board), encoding="utf-8")
    key, clock, emulator, local, city = remote_pole(tmp_path, broker)
    config = local.model_copy(update={"outputs": local.outputs.model_copy(update={"board": BOARD})})
    pole = config.pole_id
    city.subscribe(topics.command_result(pole, "set_message"))
    agent = build_agent(config, clock, pin_factory=MockFactory(pin_class=MockPWMPin), hw_dirs=[hw])
    path = socket_path(config.state_dir)
    emulator.start()
    agent.start()
    try:
        assert agent.mqtt is not None and agent.mqtt.wait_connected(10.0)
        assert query(path).operator_text is None
        assert "sign:    no city text" in status(path, capsys)

        args = {"text": "ROAD WORKS", "duration_s": 600}
        assert agent.remote is not None
        agent.remote.handler.on_message(
            topics.command(pole, "set_message"),
            json.dumps(sign(command(pole, "set_message", "m-1", args), key)).encode(),
        )
        answer = wait_for(city, topics.command_result(pole, "set_message"), 5.0)
        assert answer["status"] == "ok", answer
        assert pty_sign.wait_for('M "ROAD WORKS"')

        snap = query(path)
        assert snap.operator_text is not None
        assert snap.operator_text.text == "ROAD WORKS"
        assert snap.operator_text.command_id == "m-1"
        assert snap.operator_text.shown
        assert 0 < snap.operator_text.seconds_left <= 600
        time.sleep(0.2)  # the time left counts down
        later = query(path).operator_text
        assert later is not None and later.seconds_left < snap.operator_text.seconds_left

        text = status(path, capsys)
        line = next(x for x in text.splitlines() if x.startswith("sign:"))
        assert "'ROAD WORKS'" in line and " s left" in line and "command m-1" in line, line
        as_json = StatusSnapshot.model_validate_json(status(path, capsys, "--json"))
        assert as_json.operator_text is not None and as_json.operator_text.text == "ROAD WORKS"
        assert as_json.snapshot_version == 3  # operator_text since 2

        clear = command(pole, "set_message", "m-2", {"clear": True})
        agent.remote.handler.on_message(
            topics.command(pole, "set_message"), json.dumps(sign(clear, key)).encode()
        )
        assert wait_for(city, topics.command_result(pole, "set_message"), 5.0)["status"] == "ok"
        assert query(path).operator_text is None
    finally:
        agent.stop()
        emulator.stop()
        city.close()
