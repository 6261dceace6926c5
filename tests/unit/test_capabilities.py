"""The birth message's capabilities follow the config and the board profile."""

from __future__ import annotations

from pole_agent.board_profile import default_hw_dirs, resolve_profile
from pole_agent.capabilities import ALL, pole_capabilities
from pole_agent.config import parse_config
from simulator.camera_world import CameraWorld
from simulator.world import World

BASE = {
    "pole_id": "cap-pole",
    "radars": {"road": {"port": "/dev/null"}},
    "audio": {"player": "off"},
}


def caps(extra: dict[str, object], board: str = "spole-rpi4-v1") -> list[str]:
    data = {**BASE, **extra, "outputs": {"board": board, "pin_factory": "mock"}}
    config = parse_config(data, "test")
    return pole_capabilities(config, resolve_profile(board, default_hw_dirs()))


def test_a_bare_pole_reports_its_radar_and_its_board_outputs() -> None:
    got = caps({})
    assert got[:2] == ["radar", "beacons"]
    assert not {"kerb_radar", "kerb_model", "camera", "voice", "remote"} & set(got)


def test_kerb_radar_model_camera_voice_and_remote_are_reported_in_order() -> None:
    got = caps(
        {
            "radars": {"road": {"port": "/dev/null"}, "kerb": {"port": "/dev/ttyKERB"}},
            "camera": CameraWorld(World()).camera_section("0"),
            "audio": {"player": "record"},
            "mqtt": {"host": "localhost"},
            "remote": {"enabled": True},
        }
    )
    for name in ("kerb_radar", "kerb_model", "camera", "voice", "remote"):
        assert name in got
    assert got == [name for name in ALL if name in got]


def test_a_kerb_radar_with_its_model_off_is_not_a_model() -> None:
    got = caps(
        {
            "radars": {"road": {"port": "/dev/null"}, "kerb": {"port": "/dev/ttyKERB"}},
            "kerb_model": {"enabled": False},
        }
    )
    assert "kerb_radar" in got and "kerb_model" not in got
