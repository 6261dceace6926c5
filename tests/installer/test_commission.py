"""`pole-agent commission` end to end against the simulator, with an answers file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.config import load_config
from pole_agent.installer.commission import CommissioningReport, commission
from pole_agent.installer.prompts import AnswersPrompter
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from tests.installer.browser import dump_dom, pixels_near, screenshot
from tests.installer.rig import make_rig

ANSWERS = """
[outputs]
beacons = {beacons}
status_led = true
[radar]
known_speed_kmh = 40
[zone]
pole_id = "sim-pole-001"
location = "Hakdong-ro 12, Gangnam-gu"
speed_limit_kmh = 30
language = "ko"
"""


def run(
    tmp_path: Path, broker: MosquittoBroker, *, true_angle: float, beacons: bool
) -> tuple[CommissioningReport, MockFactory, list[str]]:
    rig = make_rig(tmp_path, broker, true_angle=true_angle)
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS.format(beacons=str(beacons).lower()), encoding="utf-8")
    factory = MockFactory(pin_class=MockPWMPin)
    ask = AnswersPrompter.load(answers)
    monitor = BrokerMonitor(broker.host, broker.port, "sim-pole-001")
    monitor.start()
    rig.emulator.start()
    try:
        report = commission(
            rig.config,
            tmp_path / "final.toml",
            ask,
            clock=rig.clock,
            pin_factory=factory,
            drive_by_s=6.0,
            broker_timeout_s=10.0,
        )
        assert monitor.wait_until(
            lambda m: any(b"checks" in r.payload for r in m.messages("commissioning")),
            timeout=15,
        )
        published = [r for r in monitor.messages("commissioning") if b"checks" in r.payload][-1]
    finally:
        rig.emulator.stop()
        monitor.stop()
    assert CommissioningReport.model_validate_json(published.payload) == report
    return report, factory, ask.said


def by_name(report: CommissioningReport) -> dict[str, str]:
    return {c.name: c.outcome for c in report.checks}


def test_answers_file_wrong_angle_and_failing_beacon(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    report, factory, said = run(tmp_path, broker, true_angle=30.0, beacons=False)
    got = by_name(report)
    # The beacon pins were driven while the question was asked; the "no" is recorded as a failure.
    assert any(s.state for s in factory.pin(17).states)
    assert got["beacons"] == "fail" and got["status LED"] == "pass"
    assert not report.ok
    # The radar was found and identified; the drive-by shows the wrong angle and proposes 30.
    assert got["radar found"] == "pass" and got["radar identity"] == "pass"
    assert got["drive-by"] == "warn"
    assert abs(report.drive_by["proposed_angle_deg"] - 30.0) < 2.0
    assert report.drive_by["error_kmh"] < -2.0
    drive = next(c for c in report.checks if c.name == "drive-by")
    assert f"mounting_angle_deg = {report.drive_by['proposed_angle_deg']:.0f}" in drive.fix
    assert any("radial speed" in line for line in said)  # the live read-out
    assert got["network"] == "pass" and got["secrets"] == "pass"
    assert report.config_written
    final = load_config(tmp_path / "final.toml")
    assert final.pole_id == "sim-pole-001" and final.zone.speed_limit_kmh == 30
    assert stat.S_IMODE((tmp_path / "final.toml").stat().st_mode) == 0o640
    folder = tmp_path / "state" / "commissioning"
    assert json.loads((folder / "report.json").read_text())["location"].startswith("Hakdong")
    page = (folder / "report.html").read_text()
    assert "FAILED" in page and "beacons" in page and "Hakdong-ro 12" in page

    # Opened in a real browser: the text a person reads, and the red verdict on the screen.
    dom = dump_dom(folder / "report.html", tmp_path / "chromium")
    assert "FAILED (1 check(s))" in dom
    assert "Hakdong-ro 12, Gangnam-gu" in dom
    assert "mounting_angle_deg = " in dom and "the installer did not see it" in dom
    image = screenshot(folder / "report.html", tmp_path / "report.png", tmp_path / "chromium")
    height, width = image.shape[:2]
    assert (width, height) == (1200, 1000)
    assert pixels_near(image, (0xC6, 0x28, 0x28)) > 200  # the FAILED verdict and FAIL cells
    assert pixels_near(image, (0x1B, 0x7F, 0x3B)) > 100  # PASS cells


def test_answers_file_good_pole_passes(tmp_path: Path, broker: MosquittoBroker) -> None:
    report, _, _ = run(tmp_path, broker, true_angle=15.0, beacons=True)
    got = by_name(report)
    assert got["drive-by"] == "pass", report.checks
    assert report.ok, [c for c in report.checks if c.outcome == "fail"]


def test_default_secret_is_refused(tmp_path: Path, broker: MosquittoBroker) -> None:
    rig = make_rig(tmp_path, broker, true_angle=15.0, password="changeme")
    answers = tmp_path / "answers.toml"
    answers.write_text(ANSWERS.format(beacons="true"), encoding="utf-8")
    rig.emulator.start()
    try:
        report = commission(
            rig.config,
            tmp_path / "final.toml",
            AnswersPrompter.load(answers),
            clock=rig.clock,
            pin_factory=MockFactory(pin_class=MockPWMPin),
            drive_by_s=1.0,
            broker_timeout_s=10.0,
        )
    finally:
        rig.emulator.stop()
    got = by_name(report)
    assert got["secrets"] == "fail" and got["config written"] == "fail"
    assert not (tmp_path / "final.toml").exists()
    assert not report.ok
