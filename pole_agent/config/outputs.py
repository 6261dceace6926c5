"""The speaker and the output pins."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
)

from pole_agent.config.base import (
    StrictModel,
)
from pole_agent.config.zone import (
    ActiveWindow,
)


class AudioConfig(StrictModel):
    """The speaker: clips played through ALSA, the amplifier enable line, the volume."""

    player: Literal["aplay", "record", "off"] = Field(
        default="aplay",
        description="'aplay' plays through ALSA; 'record' only records what would have played "
        "(simulator, tests); 'off' plays nothing.",
    )
    device: str = Field(
        default="default", min_length=1, max_length=80, description="ALSA device for aplay."
    )
    volume: float = Field(default=0.8, ge=0, le=1, description="Volume by day (0..1).")
    quiet_volume: float = Field(
        default=0.3, ge=0, le=1, description="Volume in the quiet hours (0 is silent)."
    )
    quiet_hours: ActiveWindow = Field(
        default_factory=lambda: ActiveWindow(start=time(21, 0), end=time(7, 0)),
        description="Local hours at the quiet volume.",
    )
    amp_warmup_s: float = Field(
        default=0.1, ge=0, le=2, description="Amplifier enabled this long before a clip."
    )
    clips_dir: Path | None = Field(
        default=None, description="Folder of clips and manifest.json; default: the shipped ones."
    )


class OutputsConfig(StrictModel):
    """The warning outputs, described by a board profile from hw/boards."""

    board: str = Field(
        default="spole-rpi4-v1",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Board profile name: hw/boards/<board>.toml says which pin drives what.",
    )
    pin_factory: Literal["auto", "mock"] = Field(
        default="auto",
        description="'auto' uses the board's real pin library (lgpio); 'mock' uses gpiozero's "
        "mock pins (simulator and tests).",
    )
