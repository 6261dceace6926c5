"""What a pole can do, as its birth message tells the city (``capabilities`` on ``status``).

Derived from the config and the board profile, so a pole with a camera, a kerb radar or a sign
says so and the city's dashboards need not guess. Order is fixed (the road radar and the
beacons first: every pole has them)."""

from __future__ import annotations

from pole_agent.board_profile import BoardProfile
from pole_agent.config import PoleConfig

ALL: tuple[str, ...] = (
    "radar",
    "beacons",
    "kerb_radar",
    "kerb_model",
    "camera",
    "sign",
    "speed_display",
    "voice",
    "remote",
)
"""Every capability a pole may report, in the order reported (docs/mqtt.md)."""


def pole_capabilities(config: PoleConfig, profile: BoardProfile) -> list[str]:
    kerb = config.radars.kerb is not None
    have = {
        "radar": True,
        "beacons": bool(profile.lines("beacon")),
        "kerb_radar": kerb,
        "kerb_model": kerb and config.kerb_model.enabled,
        "camera": config.camera is not None and config.camera.enabled,
        "sign": bool(profile.lines("sign_message")),
        "speed_display": profile.speed_display.kind != "none",
        "voice": config.audio.player != "off",
        "remote": config.remote.enabled and config.mqtt is not None,
    }
    return [name for name in ALL if have[name]]
