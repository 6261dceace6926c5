"""The commissioning steps' own rules, without the simulated pole: secrets against the fleet's
hashes, and the zone answers' validation."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from pole_agent.audio.clips import CLIPS_DIR, read_manifest
from pole_agent.config import PoleConfig, parse_config
from pole_agent.fleet.credentials import hash_password, set_password
from pole_agent.installer.camera_step import camera_step
from pole_agent.installer.prompts import (
    AnswerError,
    AnswersPrompter,
    TerminalPrompter,
    parse_point,
)
from pole_agent.installer.secret_checks import secrets_step
from pole_agent.installer.zone_step import (
    parse_languages,
    parse_position,
    parse_window,
    voice_clips,
    zone_step,
)
from simulator.camera_world import CameraWorld, KeyColourDetector
from simulator.pedestrians import waiting
from simulator.world import World

OWN = "pole-one-own-secret-4242"


def pole(tmp_path: Path, password: str, mode: int = 0o600) -> PoleConfig:
    secret = tmp_path / "mqtt.password"
    secret.write_text(password + "\n", encoding="utf-8")
    os.chmod(secret, mode)
    return parse_config(
        {
            "pole_id": "pole-001",
            "radars": {"road": {}},
            "mqtt": {"host": "127.0.0.1", "password_file": str(secret)},
        }
    )


def outcome(results: list, name: str = "secrets") -> tuple[str, str]:  # type: ignore[type-arg]
    found = next(r for r in results if r.name == name)
    return found.outcome, found.detail


def test_default_password_without_a_new_one_is_refused(tmp_path: Path) -> None:
    config = pole(tmp_path, "changeme")
    assert outcome(secrets_step(config, AnswersPrompter({}), None))[0] == "fail"


def test_a_weak_typed_password_is_refused_and_not_written(tmp_path: Path) -> None:
    config = pole(tmp_path, "password")
    ask = AnswersPrompter({"secrets": {"mqtt_password": "short"}})
    got, detail = outcome(secrets_step(config, ask, None))
    assert got == "fail" and "shorter than 12" in detail
    assert config.mqtt is not None and config.mqtt.password_file is not None
    assert config.mqtt.password_file.read_text().strip() == "password"


def test_a_hash_list_of_unknown_owners_finds_a_shared_password(tmp_path: Path) -> None:
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(f"{hash_password('other-1-secret-xyz')}\n{hash_password(OWN)}\n")
    got, detail = outcome(secrets_step(pole(tmp_path, OWN), AnswersPrompter({}), hashes))
    assert got == "fail" and "a pole of the list" in detail


def test_the_fleets_other_password_for_this_pole_is_refused(tmp_path: Path) -> None:
    fleet = tmp_path / "passwd"
    set_password(fleet, "pole-001", "what-the-city-issued-123")
    got, detail = outcome(secrets_step(pole(tmp_path, OWN), AnswersPrompter({}), fleet))
    assert got == "fail" and "another password for pole-001" in detail


def test_no_fleet_list_is_a_warning_and_a_loose_file_is_made_private(tmp_path: Path) -> None:
    config = pole(tmp_path, OWN, mode=0o644)
    results = secrets_step(config, AnswersPrompter({}), None)
    assert outcome(results)[0] == "warn"
    got, detail = outcome(results, "password file")
    assert got == "pass" and "was 0644, now 0600" in detail
    assert config.mqtt is not None and config.mqtt.password_file is not None
    assert stat.S_IMODE(config.mqtt.password_file.stat().st_mode) == 0o600


def test_an_unreadable_fleet_list_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    got, detail = outcome(secrets_step(pole(tmp_path, OWN), AnswersPrompter({}), empty))
    assert got == "fail" and "no Mosquitto $7$ password hash" in detail


def test_zone_answers_are_validated() -> None:
    assert parse_position("37.5172, 127.0473") == (37.5172, 127.0473)
    assert parse_position("-") is None
    for bad in ("95, 127", "37.5, 181", "0, 0", "north"):
        with pytest.raises(ValueError):
            parse_position(bad)
    assert parse_window("7:30 - 21:00") == ("07:30", "21:00")
    with pytest.raises(ValueError):
        parse_window("25:00-07:00")
    assert parse_languages("ko+EN") == ("ko", "en")
    with pytest.raises(ValueError, match="twice"):
        parse_languages("ko, ko")
    _, clips = read_manifest(CLIPS_DIR)
    with pytest.raises(ValueError, match="no spoken clip in 'fr'"):
        voice_clips(("chime", "car_coming_ko"), ("fr",), clips)
    assert parse_point("1, 2, 3.5, -4") == (1.0, 2.0, 3.5, -4.0)
    assert parse_point("1 2 3") is None and parse_point("1 2 nan 4") is None


def test_a_bad_answer_in_the_file_stops_the_run(tmp_path: Path) -> None:
    config = pole(tmp_path, OWN)
    ask = AnswersPrompter({"zone": {"position": "37.5, 200"}})
    with pytest.raises(AnswerError, match="longitude 200"):
        zone_step(config, ask)
    missing = tmp_path / "no-calendar.toml"
    ask = AnswersPrompter({"zone": {"calendar_file": str(missing)}})
    with pytest.raises(AnswerError, match="cannot read the file"):
        zone_step(config, ask)


def child_at_the_kerb(tmp_path: Path) -> tuple[PoleConfig, CameraWorld]:
    """A pole with a camera, and the camera's view of a child waiting at the kerb for 5 s."""
    child = waiting(1, 0.0, 5.0, age_group="child", height_m=1.2)
    view = CameraWorld(World([], pedestrians=[child]))
    config = parse_config(
        {
            "pole_id": "pole-001",
            "state_dir": str(tmp_path / "state"),
            "radars": {"road": {}},
            "camera": view.camera_section("0"),
        }
    )
    return config, view


def test_no_snapshot_while_someone_is_in_view(tmp_path: Path) -> None:
    """The camera step's refusal: a child at the kerb in the frame, nothing written."""
    config, view = child_at_the_kerb(tmp_path)
    ask = AnswersPrompter({})
    results, outcome = camera_step(
        config, ask, detector=KeyColourDetector(), grab=lambda: view.render(1.0)
    )
    assert [(r.name, r.outcome) for r in results] == [("road snapshot", "fail")]
    assert "person(s) in view" in results[0].detail and "nobody" in results[0].fix
    assert outcome.snapshot is None and not (tmp_path / "state" / "commissioning").exists()


def test_a_person_at_the_terminal_can_take_the_snapshot_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child walks away; the installer answers y to take it again, then keeps the points."""
    config, view = child_at_the_kerb(tmp_path)
    frames = iter([view.render(1.0), view.render(9.0)])  # gone after 5 s
    monkeypatch.setattr("sys.stdin", io.StringIO("y\ny\n"))
    screen = io.StringIO()
    results, outcome = camera_step(
        config, TerminalPrompter(screen), detector=KeyColourDetector(), grab=lambda: next(frames)
    )
    assert [(r.name, r.outcome) for r in results] == [
        ("road snapshot", "pass"),
        ("ground plane", "pass"),
    ]
    assert "person(s) in view" in screen.getvalue()
    assert "Take the snapshot again? [y/n]" in screen.getvalue()
    assert outcome.snapshot is not None and outcome.snapshot.read_bytes()[:4] == b"\x89PNG"
