"""`pole-agent commission` as a person runs it: answers typed into a pty, including a "no" for a
beacon that does not light, a typo, and a drive-by that shows a wrong mounting angle."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from pole_agent.installer.commission import CommissioningReport
from simulator.broker import MosquittoBroker
from simulator.world import Vehicle
from tests.installer.rig import make_rig

COMMAND = [sys.executable, "-m", "pole_agent", "commission"]


class Terminal:
    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = ""

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
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
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
    rig = make_rig(tmp_path, broker, true_angle=30.0, at_s=None)
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
        term.expect(r"Is the status LED on\? \[y/n\]")
        term.type("y")
        term.expect(r"Drive the test vehicle past now")
        # The test vehicle comes round the corner a moment later (simulated seconds).
        rig.world.add(Vehicle(7, rig.clock.monotonic() + 10.0, 40.0, "approaching"))
        term.expect(r"radial speed\s+3\d\.\d km/h")
        term.expect(r"What speed did the test vehicle drive \(km/h\)\?")
        term.type("forty")
        term.expect(r"not a number")
        term.type("40")
        term.expect(r"mounting_angle_deg = \d+ \(proposed\)")
        term.expect(r"Pole id\? \[sim-pole-001\]")
        term.type("")
        term.expect(r"Location \(street, landmark\)\? \[\]")
        term.type("Hakdong-ro 12")
        term.expect(r"Speed limit in the zone \(km/h\)\? \[30\]")
        term.type("")
        term.expect(r"Language of the voice\? \[ko\]")
        term.type("")
        term.expect(r"FAILED")
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
    assert outcomes["drive-by"] == "warn"
    assert abs(report.drive_by["proposed_angle_deg"] - 30.0) < 2.5
    assert report.location == "Hakdong-ro 12" and report.config_written
