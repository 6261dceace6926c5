"""`pole-agent commission` end to end against the simulator, with an answers file: the radar's
settings saved to its (emulated) flash, every warning output, the camera's snapshot and points,
the zone and site, secrets against the fleet's password file, and the report in a browser."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.config import load_config
from pole_agent.fleet.credentials import set_password
from pole_agent.installer.commission import CommissioningReport, PublishedReport, commission
from pole_agent.installer.prompts import AnswersPrompter
from simulator.broker import MosquittoBroker
from simulator.camera_world import CameraWorld
from simulator.monitor import BrokerMonitor
from simulator.world import World
from tests.installer.browser import dump_dom, pixels_near, screenshot
from tests.installer.rig import FULL_BOARD, SIGN_PINS, SPEAKER_AMP_PIN, Rig, make_rig
from tests.integration.harness import ROOT

PASSWORD = "a-long-pole-only-secret-1234"
CALENDAR = ROOT / "deploy" / "config" / "school-calendar.example.toml"
DISPLAY_ENABLE_PIN = 25

ANSWERS = """
[outputs]
beacons = {beacons}
status_led = true
heartbeat = true
speed_display = true
voice = true
sign = {{ child_crossing = true, school_zone = true, slow_down = true }}
[radar]
known_speed_kmh = 40
accept_angle = true
[camera]
keep_points = false
points = {points}
[zone]
pole_id = "sim-pole-001"
place = "Hakdong-ro 12, Gangnam-gu"
position = "37.5172, 127.0473"
speed_limit_kmh = 30
active = "07:30-20:00"
off_hours_limit_kmh = 50
calendar_file = {calendar}
language = ["en"]
[secrets]
fleet_passwords = "unused: the test passes the file itself"
"""


def new_points() -> list[list[float]]:
    """Five of the simulator's six road points, as an installer would re-mark them."""
    section = CameraWorld(World()).camera_section("0")
    points = section["calibration"]["points"][:5]
    return [[*p["image"], *p["road"]] for p in points]


def answers(tmp_path: Path, *, beacons: bool) -> AnswersPrompter:
    path = tmp_path / "answers.toml"
    path.write_text(
        ANSWERS.format(
            beacons=str(beacons).lower(),
            points=json.dumps(new_points()),
            calendar=json.dumps(str(CALENDAR)),
        ),
        encoding="utf-8",
    )
    return AnswersPrompter.load(path)


def fleet_file(tmp_path: Path, **passwords: str) -> Path:
    path = tmp_path / "fleet.passwd"
    for user, password in passwords.items():
        set_password(path, user.replace("_", "-"), password)
    return path


def run(
    tmp_path: Path,
    broker: MosquittoBroker,
    rig: Rig,
    *,
    ask: AnswersPrompter,
    factory: MockFactory,
    fleet: Path | None,
) -> tuple[CommissioningReport, PublishedReport]:
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
            fleet_passwords=fleet,
        )
        assert monitor.wait_until(
            lambda m: any(b"checks" in r.payload for r in m.messages("commissioning")),
            timeout=15,
        )
        published = [r for r in monitor.messages("commissioning") if b"checks" in r.payload][-1]
        # Power-cycle the sensor: it comes back with what is in its flash.
        rig.emulator.replug()
        after_power_cycle = rig.emulator.settings
    finally:
        rig.emulator.stop()
        monitor.stop()
    assert after_power_cycle.units == "km-per-hr" and after_power_cycle.json_output
    assert after_power_cycle.sampling_rate_hz == 20000 and after_power_cycle.magnitude_output
    assert after_power_cycle.blank_mode == "zeros"
    return report, PublishedReport.model_validate_json(published.payload)


def outcomes(report: CommissioningReport) -> dict[str, str]:
    return {c.name: c.outcome for c in report.checks}


def detail(report: CommissioningReport, name: str) -> str:
    return next(c.detail for c in report.checks if c.name == name)


def test_full_pole_wrong_angle_failing_beacon_new_points(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    rig = make_rig(tmp_path, broker, true_angle=30.0, board=FULL_BOARD, camera=True)
    factory = MockFactory(pin_class=MockPWMPin)
    fleet = fleet_file(tmp_path, sim_pole_001=PASSWORD, pole_002="another-pole-secret-5678")
    ask = answers(tmp_path, beacons=False)
    report, published = run(tmp_path, broker, rig, ask=ask, factory=factory, fleet=fleet)
    got = outcomes(report)
    assert report == CommissioningReport.model_validate(published.model_dump(exclude={"page_html"}))

    # 2. Outputs: each pin was driven while its question was asked; the "no" is a failure.
    assert any(s.state for s in factory.pin(17).states)
    assert got["beacons"] == "fail" and not report.ok
    for name in ("status LED", "heartbeat", "speed display", "voice"):
        assert got[name] == "pass", name
    for message, pin in SIGN_PINS.items():
        assert got[f"sign {message}"] == "pass"
        assert any(s.state for s in factory.pin(pin).states), message
    assert got["sign school_zone"] == "pass"
    assert any(s.state for s in factory.pin(DISPLAY_ENABLE_PIN).states)  # digits lit (42)
    assert not factory.pin(DISPLAY_ENABLE_PIN).state  # and blanked after
    assert any(s.state for s in factory.pin(SPEAKER_AMP_PIN).states)  # amplifier on to speak
    voice = detail(report, "voice")
    assert "chime + car_coming_ko + car_coming_en" in voice and " s, level " in voice

    # 3. Radar: found, settings applied, saved to flash (checked by the power cycle in run()).
    for name in ("radar found", "radar identity", "radar settings", "radar saved to flash"):
        assert got[name] == "pass", (name, detail(report, name))
    assert got["drive-by"] == "warn" and got["mounting angle"] == "pass"
    proposed = report.drive_by["proposed_angle_deg"]
    assert abs(proposed - 30.0) < 2.0 and report.drive_by["error_kmh"] < -2.0

    # 4. Camera: the snapshot kept for the report, the new points solved and written.
    assert got["road snapshot"] == "pass" and got["ground plane"] == "pass"
    snapshot = rig.state / "commissioning" / "road-snapshot.png"
    assert report.snapshot == snapshot.name and snapshot.read_bytes()[:4] == b"\x89PNG"

    # 5-7. Zone, secrets, network.
    assert got["location"] == "pass" and got["school calendar"] == "pass"
    assert got["secrets"] == "pass" and "matches its entry" in detail(report, "secrets")
    assert got["network"] == "pass" and report.config_written

    final = load_config(tmp_path / "final.toml")
    assert final.pole_id == "sim-pole-001"
    assert final.radars.road.mounting_angle_deg == round(proposed, 1)
    assert not final.radars.road.save_to_flash  # the agent itself never writes the flash
    assert final.camera is not None and len(final.camera.calibration.points) == 5
    assert final.site.place == "Hakdong-ro 12, Gangnam-gu"
    assert (final.site.latitude, final.site.longitude) == (37.5172, 127.0473)
    assert final.site.voice_languages == ("en",)
    assert final.child_warning.message == ("chime", "car_coming_en")
    assert final.zone.calendar_file == CALENDAR.resolve()
    assert f"{final.zone.active.start:%H:%M}-{final.zone.active.end:%H:%M}" == "07:30-20:00"
    assert stat.S_IMODE((tmp_path / "final.toml").stat().st_mode) == 0o640
    assert stat.S_IMODE(rig.secret.stat().st_mode) == 0o600
    assert report.latitude == 37.5172 and report.language == "en"

    # 6. The report: the page is in the published message, snapshot inline.
    folder = rig.state / "commissioning"
    page = (folder / "report.html").read_text()
    assert published.page_html == page and "data:image/png;base64," in page
    dom = dump_dom(folder / "report.html", tmp_path / "chromium")
    assert "FAILED (1 check(s))" in dom and "Hakdong-ro 12, Gangnam-gu" in dom
    assert "mounting angle written (deg)" in dom and "Ground-plane points" in dom
    assert "the installer did not see it" in dom
    image = screenshot(
        folder / "report.html", tmp_path / "report.png", tmp_path / "chromium", (1200, 2600)
    )
    assert pixels_near(image, (0xC6, 0x28, 0x28)) > 200  # the FAILED verdict and FAIL cells
    assert pixels_near(image, (0x1B, 0x7F, 0x3B)) > 100  # PASS cells
    assert pixels_near(image, (0xFF, 0x00, 0xFF), tolerance=40) > 5 * 60  # five point markers
    road_grey = pixels_near(image, (0x5A, 0x5A, 0x5A), tolerance=40)
    assert road_grey > 20_000, road_grey  # the snapshot itself: the asphalt


def test_good_pole_without_camera_passes(tmp_path: Path, broker: MosquittoBroker) -> None:
    rig = make_rig(tmp_path, broker, true_angle=15.0)
    factory = MockFactory(pin_class=MockPWMPin)
    fleet = fleet_file(tmp_path, sim_pole_001=PASSWORD)
    ask = answers(tmp_path, beacons=True)
    report, _ = run(tmp_path, broker, rig, ask=ask, factory=factory, fleet=fleet)
    got = outcomes(report)
    assert got["drive-by"] == "pass", report.checks
    assert "mounting angle" not in got  # nothing to correct, nothing asked
    assert got["camera"] == "skip" and "no camera fitted" in detail(report, "camera")
    assert report.ok, [c for c in report.checks if c.outcome == "fail"]
    final = load_config(tmp_path / "final.toml")
    assert final.camera is None and final.radars.road.mounting_angle_deg == 15


def test_a_password_shared_with_another_pole_is_refused(
    tmp_path: Path, broker: MosquittoBroker
) -> None:
    rig = make_rig(tmp_path, broker, true_angle=15.0, at_s=None)
    fleet = fleet_file(tmp_path, sim_pole_001=PASSWORD, pole_117=PASSWORD)
    rig.emulator.start()
    try:
        report = commission(
            rig.config,
            tmp_path / "final.toml",
            answers(tmp_path, beacons=True),
            clock=rig.clock,
            pin_factory=MockFactory(pin_class=MockPWMPin),
            drive_by_s=1.0,
            broker_timeout_s=10.0,
            fleet_passwords=fleet,
        )
    finally:
        rig.emulator.stop()
    got = outcomes(report)
    assert got["secrets"] == "fail" and "also used by pole-117" in detail(report, "secrets")
    assert got["config written"] == "fail"
    assert not (tmp_path / "final.toml").exists() and not report.ok
