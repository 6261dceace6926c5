"""Board profiles: the hardware as data (hw/boards/<name>.toml says which pin drives what).

A profile names each output line of the pole's controller board by role, its BCM GPIO number and
whether the line is active high; the output drivers are built from it, so a new board revision is
a new file rather than new code. Roles (docs/warnings.md, hw/README.md):

- ``beacon``: flashing amber beacons (at least one); ``status_led``: the cabinet's status LED;
- ``heartbeat``: a square wave to the external watchdog relay (it stops when the agent is not
  healthy, and the pole's independent flasher takes over);
- ``speaker_enable``: the audio amplifier's enable input;
- ``sign_message``: one line per preset message of the sign (``message`` names it);
- ``display_data``, ``display_clock``, ``display_latch`` and optional ``display_enable``: the
  "your speed" digits through a chain of 74HC595 shift registers, when the profile's
  ``speed_display.kind`` is ``shift_register``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from pole_agent.config import ConfigError, SignMessage, StrictModel, validation_problems

OutputRole = Literal[
    "beacon",
    "status_led",
    "heartbeat",
    "speaker_enable",
    "sign_message",
    "display_data",
    "display_clock",
    "display_latch",
    "display_enable",
]
SINGLE_ROLES: tuple[OutputRole, ...] = (
    "heartbeat",
    "speaker_enable",
    "display_data",
    "display_clock",
    "display_latch",
    "display_enable",
)
SHIFT_REGISTER_ROLES: tuple[OutputRole, ...] = ("display_data", "display_clock", "display_latch")


class OutputLine(StrictModel):
    """One GPIO output line of the board."""

    name: str = Field(
        pattern=r"^[a-z0-9_]{1,32}$", description="Name of the line, e.g. beacon_left."
    )
    role: OutputRole = Field(description="What the line drives.")
    gpio: int = Field(ge=0, le=27, description="BCM GPIO number on the 40-pin header.")
    active_high: bool = Field(default=True, description="False when a low level switches it on.")
    note: str = Field(default="", description="Wiring note for the installer.")
    message: SignMessage | None = Field(
        default=None, description="For a sign_message line: the preset message it selects."
    )

    @model_validator(mode="after")
    def _message_on_sign_lines(self) -> OutputLine:
        if self.role == "sign_message" and self.message is None:
            raise ValueError("a sign_message line needs 'message' (the preset it selects)")
        if self.role != "sign_message" and self.message is not None:
            raise ValueError("'message' is only for sign_message lines")
        return self


class SpeedDisplayProfile(StrictModel):
    """How the board drives the "your speed" digits."""

    kind: Literal["none", "shift_register", "serial"] = Field(
        default="none",
        description="'shift_register': 74HC595 chain on the display_* lines; 'serial': a sign "
        "controller on a serial port (docs/warnings.md, protocol SPSIGN/1); 'none': no display.",
    )
    digits: int = Field(default=2, ge=1, le=3, description="Digits (one register each).")
    segments_active_high: bool = Field(
        default=True,
        description="True when a 1 in a register lights a segment (common cathode digits).",
    )
    port: str | None = Field(default=None, description="Serial device (kind 'serial').")
    baud: Literal[9600, 19200, 38400, 57600, 115200] = Field(
        default=9600, description="Serial speed (kind 'serial')."
    )
    note: str = Field(default="", description="Wiring note for the installer.")

    @model_validator(mode="after")
    def _port_for_serial(self) -> SpeedDisplayProfile:
        if self.kind == "serial" and not self.port:
            raise ValueError("a serial speed display needs 'port'")
        return self


class BoardProfile(StrictModel):
    """A controller board: its name and output lines."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Profile name (the file stem).")
    description: str = Field(default="", description="What board and wiring this is.")
    outputs: tuple[OutputLine, ...] = Field(description="The output lines.")
    speed_display: SpeedDisplayProfile = Field(
        default_factory=SpeedDisplayProfile, description="The speed display, if any."
    )

    @model_validator(mode="after")
    def _consistent(self) -> BoardProfile:
        pins = [line.gpio for line in self.outputs]
        if len(set(pins)) != len(pins):
            raise ValueError("two output lines use the same GPIO")
        names = [line.name for line in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError("two output lines have the same name")
        if not any(line.role == "beacon" for line in self.outputs):
            raise ValueError("a board needs at least one beacon output")
        for role in SINGLE_ROLES:
            if len(self.lines(role)) > 1:
                raise ValueError(f"more than one {role} line")
        messages = [line.message for line in self.lines("sign_message")]
        if len(set(messages)) != len(messages):
            raise ValueError("two sign_message lines select the same message")
        display = self.speed_display.kind
        missing = [role for role in SHIFT_REGISTER_ROLES if not self.lines(role)]
        if display == "shift_register" and missing:
            raise ValueError(f"a shift_register speed display needs lines {', '.join(missing)}")
        if display != "shift_register" and len(missing) < len(SHIFT_REGISTER_ROLES):
            raise ValueError("display_* lines need speed_display.kind = 'shift_register'")
        return self

    def lines(self, role: OutputRole) -> list[OutputLine]:
        return [line for line in self.outputs if line.role == role]


def default_hw_dirs() -> list[Path]:
    """Where board profiles are looked for: the source tree's hw/, then the installed copies."""
    candidates = [
        Path(__file__).resolve().parent.parent / "hw" / "boards",
        Path("/etc/pole-agent/hw/boards"),
        Path("/usr/share/pole-agent/hw/boards"),
    ]
    return [path for path in candidates if path.is_dir()]


def find_profile(name: str, dirs: list[Path]) -> Path | None:
    for folder in dirs:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    return None


def load_profile(path: Path) -> BoardProfile:
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(source, [f"cannot read the file: {err.strerror or err}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(source, [f"not valid TOML: {err}"]) from None
    try:
        return BoardProfile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, validation_problems(err)) from None


def resolve_profile(name: str, dirs: list[Path]) -> BoardProfile:
    path = find_profile(name, dirs)
    if path is None:
        searched = ", ".join(str(d) for d in dirs) or "(no folders)"
        raise ConfigError("outputs.board", [f"no board profile '{name}.toml' in {searched}"])
    return load_profile(path)
