"""The radars' configuration: roles, models, the old [radar] section, the start-up sequence."""

from __future__ import annotations

from typing import Any

import pytest

from pole_agent.config import ConfigError, RadarConfig, parse_config
from pole_agent.drivers.ops243_session import startup_commands


def config(**radars: Any) -> dict[str, Any]:
    return {"pole_id": "p-1", "radars": radars}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_road_radar_is_required() -> None:
    assert problems({"pole_id": "p-1"}) == ["radars: Field required"]
    (problem,) = problems(config())
    assert problem.startswith("radars.road: ")


def test_the_old_radar_section_names_its_replacement() -> None:
    (problem,) = problems({"pole_id": "p-1", "radar": {"port": "/dev/x"}, "radars": {"road": {}}})
    assert "[radars.road]" in problem


def test_a_kerb_radar_is_optional_and_has_its_own_settings() -> None:
    pole = parse_config(
        config(
            road={"model": "OPS243-C"}, kerb={"port": "/dev/radar-kerb", "sample_rate_hz": 10000}
        )
    )
    assert pole.radars.road.has_range is True
    assert pole.radars.kerb is not None and pole.radars.kerb.has_range is False
    assert [role for role, _ in pole.radar_roles()] == ["road", "kerb"]


def test_two_radars_cannot_share_a_port() -> None:
    (problem,) = problems(config(road={}, kerb={}))
    assert "same port" in problem


@pytest.mark.parametrize(
    ("radar", "key"),
    [
        ({"model": "OPS243-B"}, "radars.road.model"),
        ({"reports_per_frame": 10}, "radars.road.reports_per_frame"),
        ({"stale_after_s": 0}, "radars.road.stale_after_s"),
        ({"lateral_offset_m": -1}, "radars.road.lateral_offset_m"),
        ({"min_magnitude": -5}, "radars.road.min_magnitude"),
    ],
)
def test_bad_radar_values_name_their_key(radar: dict[str, Any], key: str) -> None:
    (problem,) = problems(config(road=radar))
    assert problem.startswith(key + ": ")


def test_max_speed_and_resolution_follow_the_sampling_rate() -> None:
    radar = RadarConfig(sample_rate_hz=10000)
    assert 111 < radar.max_speed_kmh < 113
    assert radar.resolution_kmh == pytest.approx(0.0607 * 3.6, rel=0.01)


def test_startup_sequence_follows_the_config() -> None:
    plain = [c.text for c in startup_commands(RadarConfig(), 1_700_000_000)]
    assert plain == ["UK", "OJ", "S2", "R|", "R>0", "OM", "O1", "BZ", "C=1700000000"]
    full = startup_commands(
        RadarConfig(
            model="OPS243-C",
            sample_rate_hz=50000,
            min_speed_kmh=3.5,
            min_magnitude=40,
            reports_per_frame=3,
        ),
        5,
    )
    texts = [c.text for c in full]
    assert texts == ["UK", "OJ", "SL", "R|", "R>3.5", "OM", "O3", "BZ", "M>40", "OD", "C=5"]
    wires = {c.text: c.wire for c in full}
    assert wires["R>3.5"] == b"R>3.5\r"
    assert wires["C=5"] == b"C=5\r"
    assert wires["UK"] == b"UK"


def test_udev_rules_give_both_stable_names() -> None:
    from pathlib import Path

    rules = Path(__file__).resolve().parents[2] / "hw" / "udev" / "99-spole-radar.rules"
    active = [
        line for line in rules.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    names = [line.split('SYMLINK+="')[1].split('"')[0] for line in active]
    assert sorted(names) == ["radar-kerb", "radar-road"]
    for line in active:
        assert 'SUBSYSTEM=="tty"' in line and 'GROUP="dialout"' in line
    assert RadarConfig().port == "/dev/radar-road"
