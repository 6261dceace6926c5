"""The SPSIGN/1 sign controller link on a real pty: what goes over the wire, the answers, health,
reopening, and the link built from a board profile that names a serial display."""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pole_agent.clock import ManualClock
from pole_agent.config import AudioConfig, PoleConfig, RadarConfig, RadarsConfig
from pole_agent.drivers.serial_sign import SerialSignLink, SerialSignMessages
from tests.pole_rig import WarningSide, serial_sign_board, wait_until


@dataclass
class FakeSign:
    """The controller's end of a pty: records each line and answers it."""

    master: int
    slave_path: str
    lines: list[str] = field(default_factory=list)
    answer: str = "OK"
    """'OK', 'ERR <why>', or '' for no answer."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 256)
            except OSError:
                return
            buf += chunk
            while (end := buf.find(b"\n")) >= 0:
                line = bytes(buf[:end]).rstrip(b"\r").decode("ascii")
                del buf[: end + 1]
                self.lines.append(line)
                if self.answer:
                    os.write(self.master, self.answer.encode() + b"\r\n")

    def wait_for(self, line: str, timeout: float = 5.0) -> bool:
        return wait_until(lambda: line in self.lines, timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        os.close(self.master)


@pytest.fixture
def sign() -> Iterator[FakeSign]:
    master, slave = os.openpty()
    tty.setraw(master)
    fake = FakeSign(master, os.ttyname(slave))
    yield fake
    fake.close()
    os.close(slave)


class HealthLog:
    def __init__(self) -> None:
        self.reports: list[tuple[str, str]] = []

    def __call__(self, state: str, reason: str) -> None:
        self.reports.append((state, reason))

    def last(self) -> str:
        return self.reports[-1][0] if self.reports else ""


def wait(condition: Callable[[], bool]) -> bool:
    return wait_until(condition, 5.0)


def test_speed_messages_and_keepalive_go_over_the_wire(sign: FakeSign) -> None:
    health = HealthLog()
    link = SerialSignLink(sign.slave_path, 9600, on_health=health, keepalive_s=0.2)
    messages = SerialSignMessages(link)
    link.start()
    try:
        # First the link says its initial state: blank digits, no message.
        assert sign.wait_for("M -")
        assert sign.lines[:2] == ["S -", "M -"]
        link.show(42)
        assert sign.wait_for("S 42")
        messages.show("child_crossing")
        assert sign.wait_for("M child_crossing")
        link.show(None)
        assert sign.wait_for("S -")
        count = len(sign.lines)
        assert wait(lambda: sign.lines[count:].count("H") >= 2)
        assert health.last() == "ok"
        link.show(42)
        link.show(42)  # no change, nothing sent twice in a row
        messages.show("slow_down")
        assert sign.wait_for("M slow_down")
    finally:
        link.close()
    # Closing blanks the digits and clears the message before the thread ends.
    assert [line for line in sign.lines if line.startswith("S")][-1] == "S -"
    assert [line for line in sign.lines if line.startswith("M")][-1] == "M -"


def test_err_and_silence_are_reported(sign: FakeSign) -> None:
    health = HealthLog()
    link = SerialSignLink(
        sign.slave_path, 9600, on_health=health, keepalive_s=0.2, reply_timeout_s=0.2
    )
    link.start()
    try:
        assert sign.wait_for("H")  # the initial state is said and answered: the link is idle
        assert health.last() == "ok"
        sign.answer = "ERR unknown preset"
        link.select("shout")
        assert wait(lambda: "sign refused 'M shout': ERR unknown preset" in health.reports[-1][1])
        assert health.last() == "failed"
        sign.answer = ""
        link.show(30)
        assert wait(lambda: "no answer to 'S 30'" in health.reports[-1][1])
        sign.answer = "OK"
        assert wait(lambda: health.last() == "ok")
    finally:
        link.close()
    assert link.stats.errors >= 1 and link.stats.missing_replies >= 1


def test_a_missing_port_is_reported_and_opened_when_it_appears(
    sign: FakeSign, tmp_path: Path
) -> None:
    health = HealthLog()
    path = tmp_path / "sign"
    link = SerialSignLink(str(path), 9600, on_health=health, keepalive_s=0.2)
    link.start()
    try:
        assert wait(lambda: health.last() == "failed")
        assert "cannot open" in health.reports[-1][1]
        link.show(25)
        path.symlink_to(sign.slave_path)
        assert sign.wait_for("S 25", timeout=10.0)
        assert wait(lambda: health.last() == "ok")
    finally:
        link.close()
    assert link.stats.opens >= 1


def test_a_board_with_a_serial_display_drives_it(sign: FakeSign, tmp_path: Path) -> None:
    config = PoleConfig(
        pole_id="serial",
        state_dir=tmp_path,
        radars=RadarsConfig(road=RadarConfig(port="/dev/null")),
        audio=AudioConfig(player="off"),
    )
    board = serial_sign_board(sign.slave_path)
    side = WarningSide.build(config, board, ManualClock(), road_radar_ok=False)
    side.start()
    try:
        side.parts.display.show(37)
        side.parts.sign.show("slow_down")
        assert sign.wait_for("S 37") and sign.wait_for("M slow_down")
        assert wait(lambda: (h := side.health.get("sign")) is not None and h.state == "ok")
    finally:
        side.close()
    assert sign.wait_for("S -")
