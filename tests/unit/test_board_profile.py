"""Board profiles: the shipped profile loads; inconsistent profiles are rejected by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from pole_agent.board_profile import (
    BoardProfile,
    default_hw_dirs,
    find_profile,
    load_profile,
    resolve_profile,
)
from pole_agent.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
HW_BOARDS = REPO / "hw" / "boards"
SHIPPED = HW_BOARDS / "spole-rpi4-v1.toml"

HEADER = 'name = "test-board"\n'


def line(name: str, role: str, gpio: int, active_high: bool = True) -> str:
    high = "true" if active_high else "false"
    return f'[[outputs]]\nname = "{name}"\nrole = "{role}"\ngpio = {gpio}\nactive_high = {high}\n'


def profile_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "board.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert info.value.source == str(path)
    return info.value.problems


def test_shipped_profile_loads() -> None:
    profile = load_profile(SHIPPED)
    assert profile.name == "spole-rpi4-v1"
    assert profile.description
    beacons = profile.lines("beacon")
    assert [(b.name, b.gpio, b.active_high) for b in beacons] == [
        ("beacon_left", 17, True),
        ("beacon_right", 27, True),
    ]
    status = profile.lines("status_led")
    assert [(s.name, s.gpio) for s in status] == [("status", 22)]
    assert all(line.note for line in profile.outputs)


def test_shipped_profile_name_matches_its_file_stem() -> None:
    for path in HW_BOARDS.glob("*.toml"):
        assert load_profile(path).name == path.stem


def test_default_hw_dirs_include_the_source_tree() -> None:
    assert HW_BOARDS in default_hw_dirs()


def test_find_profile_searches_folders_in_order(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    assert find_profile("spole-rpi4-v1", [first, HW_BOARDS]) == SHIPPED
    (first / "spole-rpi4-v1.toml").write_text(HEADER + line("b", "beacon", 5))
    assert find_profile("spole-rpi4-v1", [first, HW_BOARDS]) == first / "spole-rpi4-v1.toml"
    assert find_profile("absent", [first, HW_BOARDS]) is None


def test_resolve_profile_loads_by_name() -> None:
    assert resolve_profile("spole-rpi4-v1", [HW_BOARDS]).name == "spole-rpi4-v1"


def test_resolve_profile_missing_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_profile("absent", [tmp_path])
    assert info.value.source == "outputs.board"
    assert "absent.toml" in info.value.problems[0]
    assert str(tmp_path) in info.value.problems[0]


def test_a_minimal_profile_with_one_beacon_loads(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(HEADER + line("beacon_a", "beacon", 5, active_high=False))
    profile = load_profile(path)
    assert profile.lines("status_led") == []
    (beacon,) = profile.lines("beacon")
    assert beacon.active_high is False
    assert beacon.note == ""


def test_duplicate_gpio_rejected(tmp_path: Path) -> None:
    problems = profile_problems(
        tmp_path, HEADER + line("beacon_a", "beacon", 17) + line("beacon_b", "beacon", 17)
    )
    assert len(problems) == 1
    assert "same GPIO" in problems[0]


def test_duplicate_names_rejected(tmp_path: Path) -> None:
    problems = profile_problems(
        tmp_path, HEADER + line("beacon_a", "beacon", 17) + line("beacon_a", "beacon", 27)
    )
    assert len(problems) == 1
    assert "same name" in problems[0]


def test_no_beacon_line_rejected(tmp_path: Path) -> None:
    problems = profile_problems(tmp_path, HEADER + line("status", "status_led", 22))
    assert len(problems) == 1
    assert "at least one beacon" in problems[0]


def test_no_outputs_at_all_rejected(tmp_path: Path) -> None:
    problems = profile_problems(tmp_path, HEADER)
    assert problems == ["outputs: Field required"]


def test_unknown_role_rejected_naming_the_line(tmp_path: Path) -> None:
    problems = profile_problems(
        tmp_path, HEADER + line("beacon_a", "beacon", 17) + line("horn", "siren", 27)
    )
    assert len(problems) == 1
    assert problems[0].startswith("outputs[1].role: ")
    assert "'beacon'" in problems[0] and "'status_led'" in problems[0]
    assert "siren" in problems[0]


@pytest.mark.parametrize("gpio", [-1, 28])
def test_gpio_outside_the_header_rejected(tmp_path: Path, gpio: int) -> None:
    problems = profile_problems(tmp_path, HEADER + line("beacon_a", "beacon", gpio))
    assert len(problems) == 1
    assert problems[0].startswith("outputs[0].gpio: ")


def test_unknown_key_in_a_line_rejected(tmp_path: Path) -> None:
    problems = profile_problems(tmp_path, HEADER + line("beacon_a", "beacon", 17) + "pwm = true\n")
    assert problems[0].startswith("outputs[0].pwm: unknown key")


def test_bad_line_name_rejected(tmp_path: Path) -> None:
    problems = profile_problems(tmp_path, HEADER + line("Beacon Left", "beacon", 17))
    assert problems[0].startswith("outputs[0].name: ")


def test_invalid_toml_rejected(tmp_path: Path) -> None:
    problems = profile_problems(tmp_path, "name = \n")
    assert len(problems) == 1
    assert problems[0].startswith("not valid TOML")


def test_non_utf8_profile_rejected(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_bytes(b'name = "b"\n# \xff\n')
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert len(info.value.problems) == 1


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_profile(tmp_path / "absent.toml")
    assert info.value.problems[0].startswith("cannot read the file")


def test_profile_is_frozen() -> None:
    profile = load_profile(SHIPPED)
    assert isinstance(profile, BoardProfile)
    with pytest.raises(ValueError, match="frozen"):
        profile.name = "other"  # type: ignore[misc]


# -- rev 2: every warning output ---------------------------------------------------------------

V2 = HW_BOARDS / "spole-rpi4-v2.toml"


def test_v2_profile_has_every_warning_output() -> None:
    profile = load_profile(V2)
    assert [(b.name, b.gpio) for b in profile.lines("beacon")] == [
        ("beacon_left", 17),
        ("beacon_right", 27),
    ]
    assert [s.gpio for s in profile.lines("status_led")] == [22]
    assert {line.message: line.gpio for line in profile.lines("sign_message")} == {
        "slow_down": 5,
        "child_crossing": 6,
        "school_zone": 13,
    }
    assert [line.gpio for line in profile.lines("heartbeat")] == [23]
    assert [line.gpio for line in profile.lines("speaker_enable")] == [24]
    assert profile.speed_display.kind == "shift_register"
    assert profile.speed_display.digits == 2
    (enable,) = profile.lines("display_enable")
    assert enable.active_high is False  # the registers' /OE
    assert all(line.note for line in profile.outputs)
    assert profile.speed_display.note


def test_v1_profile_has_no_display() -> None:
    assert load_profile(SHIPPED).speed_display.kind == "none"


def sign_line(name: str, gpio: int, message: str | None) -> str:
    text = line(name, "sign_message", gpio)
    return text + (f'message = "{message}"\n' if message else "")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (sign_line("s", 5, None), "outputs[1]: a sign_message line needs 'message'"),
        (
            line("h", "heartbeat", 5) + 'message = "slow_down"\n',
            "outputs[1]: 'message' is only for sign_message lines",
        ),
        (sign_line("s", 5, "shout"), "outputs[1].message: "),
        (sign_line("a", 5, "slow_down") + sign_line("b", 6, "slow_down"), "two sign_message"),
        (line("h1", "heartbeat", 5) + line("h2", "heartbeat", 6), "more than one heartbeat"),
        (
            line("d", "display_data", 5) + line("c", "display_clock", 6),
            "display_* lines need speed_display.kind",
        ),
        (
            line("d", "display_data", 5) + '[speed_display]\nkind = "shift_register"\n',
            "a shift_register speed display needs lines display_clock, display_latch",
        ),
        ('[speed_display]\nkind = "serial"\n', "speed_display: a serial speed display needs"),
    ],
)
def test_inconsistent_v2_roles_rejected(tmp_path: Path, body: str, problem: str) -> None:
    problems = profile_problems(tmp_path, HEADER + line("beacon_a", "beacon", 17) + body)
    assert any(p.startswith(problem) or problem in p for p in problems), problems
