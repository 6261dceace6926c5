"""Config loading, key-path errors, path resolution, preflight and summary()."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from pole_agent.config import (
    ConfigError,
    PoleConfig,
    load_config,
    parse_config,
    summary,
)
from pole_agent.preflight import preflight

REPO = Path(__file__).resolve().parents[2]
SIMULATOR_TOML = REPO / "deploy" / "config" / "simulator.toml"
POLE_EXAMPLE_TOML = REPO / "deploy" / "config" / "pole.example.toml"
HW_BOARDS = REPO / "hw" / "boards"


def problems_of(data: Mapping[str, Any]) -> list[str]:
    """The problems parse_config reports for ``data`` (it must fail)."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, "test.toml")
    assert info.value.source == "test.toml"
    assert info.value.problems, "a ConfigError must list at least one problem"
    return info.value.problems


def with_pole(**sections: Any) -> dict[str, Any]:
    """A config with the given sections; ``radar=`` is the road radar ([radars.road])."""
    road = sections.pop("radar", {})
    return {"pole_id": "test-pole", "radars": {"road": road}, **sections}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped example files ------------------------------------------------------------


def test_simulator_example_loads() -> None:
    config = load_config(SIMULATOR_TOML)
    assert config.pole_id == "sim-pole-001"
    assert config.zone.speed_limit_kmh == 30
    assert config.zone.off_hours_limit_kmh == 50
    assert config.zone.timezone == "Asia/Seoul"
    assert config.zone.active.start == time(0, 0) == config.zone.active.end
    assert config.radars.road.mounting_angle_deg == 15
    assert config.radars.road.sample_rate_hz == 20000
    assert config.outputs.pin_factory == "mock"
    assert config.mqtt is None
    # state_dir is relative in the file: resolved against deploy/config/.
    assert config.state_dir == (SIMULATOR_TOML.parent / "../../.state/sim").resolve()
    assert config.state_dir.is_absolute()


def test_simulator_example_passes_preflight() -> None:
    config = load_config(SIMULATOR_TOML)
    assert preflight(config, [HW_BOARDS]) == []


def test_pole_example_loads() -> None:
    config = load_config(POLE_EXAMPLE_TOML)
    assert config.pole_id == "seoul-gangnam-es-0001"
    assert config.zone.active.start == time(7, 0)
    assert config.zone.active.end == time(21, 0)
    assert config.radars.road.mounting_angle_deg == 12
    assert config.outputs.pin_factory == "auto"
    assert config.mqtt is not None
    assert config.mqtt.host == "mqtt.spole.example"
    assert config.mqtt.port == 8883
    assert config.mqtt_username == "seoul-gangnam-es-0001"
    assert config.mqtt.password_file == Path("/etc/pole-agent/secrets/mqtt-password")
    assert config.mqtt.tls is not None
    assert config.mqtt.tls.key_file == Path("/etc/pole-agent/secrets/pole.key")


def test_pole_example_fails_preflight_only_for_its_secret_and_tls_files() -> None:
    config = load_config(POLE_EXAMPLE_TOML)
    problems = preflight(config, [HW_BOARDS])
    keys = sorted(problem.split(":", 1)[0] for problem in problems)
    missing = [
        "mqtt.password_file",
        "mqtt.tls.ca_file",
        "mqtt.tls.cert_file",
        "mqtt.tls.key_file",
    ]
    present = [key for key in missing if Path(_file_for(config, key)).exists()]
    assert keys == sorted(set(missing) - set(present))
    assert not any(p.startswith("outputs.board") for p in problems)


def _file_for(config: PoleConfig, key: str) -> Path:
    assert config.mqtt is not None and config.mqtt.tls is not None
    files: dict[str, Path | None] = {
        "mqtt.password_file": config.mqtt.password_file,
        "mqtt.tls.ca_file": config.mqtt.tls.ca_file,
        "mqtt.tls.cert_file": config.mqtt.tls.cert_file,
        "mqtt.tls.key_file": config.mqtt.tls.key_file,
    }
    found = files[key]
    assert found is not None
    return found


def test_minimal_config_takes_defaults() -> None:
    config = parse_config({"pole_id": "p-1", "radars": {"road": {}}})
    assert config.radars.road.model == "OPS243-A"
    assert config.radars.kerb is None
    assert config.zone.speed_limit_kmh == 30.0
    assert config.zone.active.start == time(7, 0)
    assert config.warning.confirm_frames == 2
    assert config.mqtt is None
    assert config.mqtt_username is None


# --- errors name their key path -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        (with_pole(zone={"speed_limit_kmh": 0}), "zone.speed_limit_kmh", "greater than 0"),
        (with_pole(zone={"speed_limit_kmh": 131}), "zone.speed_limit_kmh", "less than or equal"),
        (with_pole(zone={"speed_limit_kmh": "fast"}), "zone.speed_limit_kmh", "number"),
        (with_pole(zone={"off_hours_limit_kmh": -5}), "zone.off_hours_limit_kmh", "greater"),
        (with_pole(radar={"baud": 12345}), "radars.road.baud", "19200"),
        (with_pole(radar={"sample_rate_hz": 12345}), "radars.road.sample_rate_hz", "20000"),
        (
            with_pole(radar={"mounting_angle_deg": 80}),
            "radars.road.mounting_angle_deg",
            "less than",
        ),
        (
            with_pole(zone={"active": {"start": "7am", "end": "21:00"}}),
            "zone.active.start",
            "HH:MM",
        ),
        (
            with_pole(zone={"active": {"start": "25:00", "end": "21:00"}}),
            "zone.active.start",
            "HH:MM",
        ),
        (
            with_pole(zone={"active": {"start": "07:00", "end": "21:60"}}),
            "zone.active.end",
            "HH:MM",
        ),
        (
            with_pole(zone={"active": {"start": "07:00:00", "end": "21:00"}}),
            "zone.active.start",
            "HH:MM",
        ),
        (with_pole(zone={"active": {"start": "07:00"}}), "zone.active.end", "required"),
        (with_pole(zone={"timezone": "Mars/Olympus"}), "zone.timezone", "time zone"),
        (with_pole(zone={"timezone": "asia/seoul"}), "zone.timezone", "time zone"),
        (with_pole(zone={"timezone": ""}), "zone.timezone", "time zone"),
        (with_pole(tracking={"min_samples": 0}), "tracking.min_samples", "greater"),
        (with_pole(warning={"confirm_frames": 1}), "warning.confirm_frames", "greater"),
        (with_pole(outputs={"pin_factory": "real"}), "outputs.pin_factory", "'mock'"),
        (with_pole(outputs={"board": "../etc/x"}), "outputs.board", "pattern"),
        (with_pole(mqtt={"host": "h", "port": 0}), "mqtt.port", "greater"),
        (with_pole(mqtt={"port": 1883}), "mqtt.host", "required"),
        ({**with_pole(), "pole_id": "Bad_ID"}, "pole_id", "lower-case"),
        ({**with_pole(), "pole_id": "x" * 65}, "pole_id", "lower-case"),
        ({"radars": {"road": {}}}, "pole_id", "required"),
    ],
)
def test_error_names_the_key_path(data: dict[str, Any], key: str, words: str) -> None:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}: "), problems
    assert words.lower() in problems[0].lower(), problems


def test_offending_short_value_is_shown() -> None:
    (problem,) = problems_of(with_pole(radar={"baud": 12345}))
    assert "(got 12345)" in problem


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        {
            "pole_id": "p",
            "zone": {"speed_limit_kmh": 0, "timezone": "Nowhere/Place"},
            "radars": {"road": {"baud": 1}},
        }
    )
    keys = sorted(p.split(":", 1)[0] for p in problems)
    assert keys == ["radars.road.baud", "zone.speed_limit_kmh", "zone.timezone"]


def test_unknown_key_at_top_level() -> None:
    (problem,) = problems_of(with_pole(colour="red"))
    assert problem.startswith("colour: unknown key")
    assert "spelling" in problem


def test_unknown_key_nested() -> None:
    (problem,) = problems_of(with_pole(radar={"colour": "red"}))
    assert problem.startswith("radars.road.colour: unknown key")


def test_unknown_key_deeply_nested() -> None:
    (problem,) = problems_of(
        with_pole(mqtt={"host": "h", "tls": {"ca_file": "/ca", "crl_file": "/crl"}})
    )
    assert problem.startswith("mqtt.tls.crl_file: unknown key")


def test_misspelled_section_is_unknown() -> None:
    (problem,) = problems_of(with_pole(zones={"speed_limit_kmh": 30}))
    assert problem.startswith("zones: unknown key")


def test_inline_password_is_rejected_pointing_to_password_file() -> None:
    problems = problems_of(with_pole(mqtt={"host": "h", "password": "hunter2"}))
    assert len(problems) == 1
    (problem,) = problems
    assert problem.startswith("mqtt: ")
    assert "'password'" in problem
    assert "password_file" in problem
    assert "0600" in problem
    # The secret itself must not be echoed back into logs.
    assert "hunter2" not in problem


def test_inline_key_in_tls_is_rejected_pointing_to_key_file() -> None:
    (problem,) = problems_of(with_pole(mqtt={"host": "h", "tls": {"ca_file": "/ca", "key": "k"}}))
    assert problem.startswith("mqtt.tls: ")
    assert "key_file" in problem


def test_inline_secret_at_top_level_is_rejected() -> None:
    (problem,) = problems_of(with_pole(token="abc"))
    assert "'token'" in problem
    assert "token_file" in problem


@pytest.mark.parametrize("given", ["cert_file", "key_file"])
def test_tls_cert_and_key_must_come_together(given: str) -> None:
    (problem,) = problems_of(with_pole(mqtt={"host": "h", "tls": {"ca_file": "/ca", given: "/x"}}))
    assert problem.startswith("mqtt.tls: ")
    assert "cert_file and key_file must be given together" in problem


def test_tls_cert_and_key_together_accepted() -> None:
    config = parse_config(
        with_pole(
            mqtt={"host": "h", "tls": {"ca_file": "/ca", "cert_file": "/c", "key_file": "/k"}}
        )
    )
    assert config.mqtt is not None and config.mqtt.tls is not None
    assert config.mqtt.tls.cert_file == Path("/c")


@pytest.mark.parametrize("zone", ["America", "Etc"])
def test_timezone_that_names_a_folder_is_a_config_error(zone: str) -> None:
    (problem,) = problems_of(with_pole(zone={"timezone": zone}))
    assert problem.startswith("zone.timezone: ")


# --- files: relative paths, syntax and encoding errors ------------------------------------


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "pole"
    path = write(
        folder / "config.toml",
        """
pole_id = "p-1"
state_dir = "state"

[radars.road]

[mqtt]
host = "broker"
password_file = "secrets/mqtt-password"

[mqtt.tls]
ca_file = "tls/ca.crt"
cert_file = "../tls/pole.crt"
key_file = "/abs/pole.key"
""",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    base = folder.resolve()
    assert config.state_dir == base / "state"
    assert config.mqtt is not None and config.mqtt.tls is not None
    assert config.mqtt.password_file == base / "secrets" / "mqtt-password"
    assert config.mqtt.tls.ca_file == base / "tls" / "ca.crt"
    assert config.mqtt.tls.cert_file == base.parent / "tls" / "pole.crt"
    assert config.mqtt.tls.key_file == Path("/abs/pole.key")


def test_load_config_accepts_a_relative_path_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf" / "c.toml", 'pole_id = "p-1"\nstate_dir = "st"\n[radars.road]\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/c.toml"))
    assert config.state_dir == (tmp_path / "conf" / "st").resolve()


def test_toml_syntax_error_is_one_clear_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'pole_id = "p-1"\n[zone\nspeed_limit_kmh = 30\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("not valid TOML")
    assert "line 2" in info.value.problems[0]


def test_non_utf8_file_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('pole_id = "p-1"\n# caf\xe9\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("not UTF-8 text")


def test_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("cannot read the file")


def test_validation_error_from_a_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'pole_id = "p-1"\n[radars.road]\nbaud = 1200\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert info.value.problems[0].startswith("radars.road.baud: ")
    assert str(path) in str(info.value)


# --- preflight ----------------------------------------------------------------------------


def _mqtt_config(tmp_path: Path, password_mode: int | None) -> PoleConfig:
    password = tmp_path / "mqtt-password"
    if password_mode is not None:
        password.write_text("secret\n")
        os.chmod(password, password_mode)
    return parse_config(with_pole(mqtt={"host": "h", "password_file": str(password)}))


def test_preflight_finds_a_missing_board_profile(tmp_path: Path) -> None:
    empty = tmp_path / "boards"
    empty.mkdir()
    config = parse_config(with_pole(outputs={"board": "no-such-board"}))
    problems = preflight(config, [empty, HW_BOARDS])
    assert len(problems) == 1
    assert problems[0].startswith("outputs.board: ")
    assert "no-such-board.toml" in problems[0]
    assert str(empty) in problems[0]


def test_preflight_with_no_folders_says_so() -> None:
    problems = preflight(parse_config(with_pole()), [])
    assert problems == ["outputs.board: no board profile 'spole-rpi4-v1.toml' in (no folders)"]


def test_preflight_finds_a_missing_password_file(tmp_path: Path) -> None:
    problems = preflight(_mqtt_config(tmp_path, None), [HW_BOARDS])
    assert len(problems) == 1
    assert problems[0].startswith("mqtt.password_file: cannot read ")


def test_preflight_rejects_a_world_readable_password_file(tmp_path: Path) -> None:
    problems = preflight(_mqtt_config(tmp_path, 0o644), [HW_BOARDS])
    assert len(problems) == 1
    assert problems[0].startswith("mqtt.password_file: ")
    assert "mode 0644" in problems[0]
    assert "chmod 600" in problems[0]


def test_preflight_rejects_a_group_readable_password_file(tmp_path: Path) -> None:
    problems = preflight(_mqtt_config(tmp_path, 0o640), [HW_BOARDS])
    assert len(problems) == 1
    assert "mode 0640" in problems[0]


def test_preflight_passes_a_private_password_file(tmp_path: Path) -> None:
    assert preflight(_mqtt_config(tmp_path, 0o600), [HW_BOARDS]) == []


def test_preflight_password_file_that_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "pw"
    folder.mkdir()
    config = parse_config(with_pole(mqtt={"host": "h", "password_file": str(folder)}))
    problems = preflight(config, [HW_BOARDS])
    assert problems == [f"mqtt.password_file: {folder} is not a regular file"]


def test_preflight_tls_key_must_be_private_but_certs_need_not(tmp_path: Path) -> None:
    for name in ("ca.crt", "pole.crt", "pole.key"):
        (tmp_path / name).write_text("x")
        os.chmod(tmp_path / name, 0o644)
    config = parse_config(
        with_pole(
            mqtt={
                "host": "h",
                "tls": {
                    "ca_file": str(tmp_path / "ca.crt"),
                    "cert_file": str(tmp_path / "pole.crt"),
                    "key_file": str(tmp_path / "pole.key"),
                },
            }
        )
    )
    problems = preflight(config, [HW_BOARDS])
    assert len(problems) == 1
    assert problems[0].startswith("mqtt.tls.key_file: ")
    os.chmod(tmp_path / "pole.key", 0o600)
    assert preflight(config, [HW_BOARDS]) == []


# --- summary() ----------------------------------------------------------------------------


def test_summary_of_the_simulator_config() -> None:
    lines = summary(load_config(SIMULATOR_TOML))
    assert lines[0] == "pole sim-pole-001"
    assert lines[1] == ("zone limit 30 km/h active all day Asia/Seoul; off-hours limit 50 km/h")
    assert lines[2] == (
        "radar road OPS243-A /dev/radar-road at 19200 baud, mounting angle 15 deg, max 224 km/h"
    )
    assert lines[3] == "warn after 2 over-limit frames, hold 3 s, flash 1 Hz"
    assert lines[4] == "outputs board spole-rpi4-v1 (pins: mock)"
    assert lines[5] == "broker none (runs offline)"
    assert lines[6].startswith("state in /") and lines[6].endswith(".state/sim")
    assert len(lines) == 7


def test_summary_of_the_pole_example() -> None:
    lines = summary(load_config(POLE_EXAMPLE_TOML))
    assert lines[0] == "pole seoul-gangnam-es-0001"
    assert "active 07:00-21:00 Asia/Seoul" in lines[1]
    assert "mounting angle 12 deg" in lines[2]
    assert lines[5] == "broker mqtt.spole.example:8883 (TLS, user seoul-gangnam-es-0001)"
    assert lines[6] == "state in /var/lib/pole-agent"


def test_summary_plain_tcp_with_explicit_username() -> None:
    config = parse_config(
        with_pole(
            mqtt={"host": "10.0.0.5", "port": 1883, "username": "other"},
            zone={"active": {"start": "22:30", "end": "06:15"}, "speed_limit_kmh": 20.5},
            radar={"sample_rate_hz": 10000},
        )
    )
    lines = summary(config)
    assert lines[1].startswith("zone limit 20.5 km/h active 22:30-06:15 ")
    assert "max 112 km/h" in lines[2]
    assert lines[5] == "broker 10.0.0.5:1883 (plain TCP, user other)"
