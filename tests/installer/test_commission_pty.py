"""`pole-agent commission` as a person runs it: answers typed into a pty, including a "no" for a
beacon that does not light, typos, a drive-by that shows a wrong mounting angle, ground-plane
points typed in, and the pole's own password typed (not echoed) over a default one."""

from __future__ import annotations

import os
import re
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

from pole_agent.config import load_config
from pole_agent.fleet.credentials import set_password
from pole_agent.installer.commission import CommissioningReport
from simulator.broker import MosquittoBroker
from simulator.world import Vehicle
from tests.installer.rig import FULL_BOARD, make_rig
from tests.installer.test_commission import new_points

COMMAND = [sys.executable, "-m", "pole_agent", "commission"]
NEW_PASSWORD = "typed-on-the-ladder-7781"


class Terminal:
    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = ""
        self.transcript = ""
        """Everything the terminal showed."""

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {pattern!r}; screen so far:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    assert re.search(pattern, self.seen), f"ended before {pattern!r}:\n{self.seen}"
                    break
                text = chunk.decode(errors="replace").replace("\r\n", "\n")
                self.seen += text
                self.transcript += text
        match = re.search(pattern, self.seen)
        assert match is not None
        rest = self.seen[match.end() :]
        self.seen = rest
        return match.group(0)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\n")


def test_typed_answers_failing_beacon_and_wrong_angle(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    rig = make_rig(
        tmp_path,
        broker,
        true_angle=30.0,
        at_s=None,
        password="changeme",
        board=FULL_BOARD,
        camera=True,
    )
    fleet = tmp_path / "fleet.passwd"
    set_password(fleet, "pole-002", "another-pole-secret-5678")
    rig.emulator.start()
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [
            *COMMAND,
            "--config",
            str(rig.config),
            "--out",
            str(tmp_path / "final.toml"),
            "--drive-by",
            "8",
            "--fleet-passwords",
            str(fleet),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    term = Terminal(master)
    try:
        term.expect(r"Are the beacons flashing\? \[y/n\]")
        term.type("maybe")
        term.expect(r"please answer y or n")
        term.expect(r"Are the beacons flashing\? \[y/n\]")
        term.type("n")
        for question in (
            r"Is the status LED on\?",
            r"Did the heartbeat LED/relay pulse\?",
            r"Does the sign show 'child_crossing'\?",
            r"Does the sign show 'school_zone'\?",
        ):
            term.expect(question + r".*\[y/n\]")
            term.type("y")
        term.expect(r"Does the sign show 'slow_down'\? \[y/n\]")
        term.type("n")  # its preset input is not wired
        for question in (
            r"Does the speed display show 42\?",
            r"playing the child warning .*\n.*Did the speaker just say the child warning",
        ):
            term.expect(question + r".*\[y/n\]")
            term.type("y")
        term.expect(r"Drive the test vehicle past now")
        # The test vehicle comes round the corner a moment later (simulated seconds).
        rig.world.add(Vehicle(7, rig.clock.monotonic() + 10.0, 40.0, "approaching"))
        term.expect(r"radial speed\s+3\d\.\d km/h")
        term.expect(r"What speed did the test vehicle drive \(km/h\)\?")
        term.type("forty")
        term.expect(r"not a number")
        term.type("40")
        term.expect(r"Write radars\.road\.mounting_angle_deg = \d+\.\d into the config\? \[y/n\]")
        term.type("y")
        term.expect(r"Do these points match the road in the snapshot\? \[y/n\]")
        term.type("n")
        term.expect(r"point 1 \(column row x y; empty line ends\)\?")
        term.type("1 2 3")
        term.expect(r"four numbers please")
        for number, point in enumerate(new_points(), start=1):
            term.expect(rf"point {number} \(column row x y")
            term.type(" ".join(f"{v:g}" for v in point))
        term.expect(r"point 6 \(column row x y")
        term.type("")
        term.expect(r"Pole id\? \[sim-pole-001\]")
        term.type("")
        term.expect(r"Place name \(street, school gate\)\? \[\]")
        term.type("Hakdong-ro 12")
        term.expect(r"Position: latitude, longitude \(decimal degrees\)\? \[-\]")
        term.type("95, 127")
        term.expect(r"latitude 95 is not within -90..90")
        term.type("37.5172, 127.0473")
        term.expect(r"Speed limit in the zone \(km/h\)\? \[30\]")
        term.type("")
        term.expect(r"Active hours \(HH:MM-HH:MM\)\? \[00:00-00:00\]")
        term.type("")
        term.expect(r"Limit outside those hours \(km/h\)\? \[50\]")
        term.type("")
        term.expect(r"School calendar file \('-' for none\)\? \[-\]")
        term.type("-")
        term.expect(r"Languages of the voice \(ko, en, ko\+en\)\? \[ko\+en\]")
        term.type("ko")
        term.expect(r"the MQTT password in .* is a default one")
        term.expect(r"MQTT password for sim-pole-001 \(not shown\)\?")
        term.type(NEW_PASSWORD)
        term.expect(r"FAILED")
        assert "Hakdong-ro 12" in term.transcript  # what is typed shows ...
        assert NEW_PASSWORD not in term.transcript  # ... but a password does not
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        rig.emulator.stop()
    report = CommissioningReport.model_validate_json(
        (tmp_path / "state" / "commissioning" / "report.json").read_bytes()
    )
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes["beacons"] == "fail" and outcomes["status LED"] == "pass"
    assert outcomes["voice"] == "pass" and outcomes["speed display"] == "pass"
    sign = next(c for c in report.checks if c.name == "sign slow_down")
    assert sign.outcome == "fail" and "sign controller's preset inputs" in sign.fix
    assert outcomes["radar saved to flash"] == "pass"
    assert outcomes["drive-by"] == "warn" and outcomes["mounting angle"] == "pass"
    assert abs(report.drive_by["proposed_angle_deg"] - 30.0) < 2.5
    assert outcomes["road snapshot"] == "pass" and outcomes["ground plane"] == "pass"
    # Shared with no other pole; the city's file has no entry for it yet (said, not hidden).
    secrets = next(c for c in report.checks if c.name == "secrets")
    assert secrets.outcome == "warn" and "has no entry yet" in secrets.detail
    assert outcomes["password file"] == "pass"
    assert report.location == "Hakdong-ro 12" and report.config_written
    final = load_config(tmp_path / "final.toml")
    assert final.radars.road.mounting_angle_deg == report.drive_by["accepted_angle_deg"]
    assert final.camera is not None and len(final.camera.calibration.points) == 5
    assert final.site.voice_languages == ("ko",)
    assert final.child_warning.message == ("chime", "car_coming_ko")
    # The typed password replaced the default one, private to the agent's user.
    assert rig.secret.read_text(encoding="utf-8").strip() == NEW_PASSWORD
    assert stat.S_IMODE(rig.secret.stat().st_mode) == 0o600
