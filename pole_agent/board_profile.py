"""Board profiles: the hardware as data (hw/boards/<name>.toml says which pin drives what).

A profile names each output line of the pole's controller board by role, its BCM GPIO number and
whether the line is active high; the output drivers are built from it, so a new board revision is
a new file rather than new code.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from pole_agent.config import ConfigError, StrictModel, validation_problems

OutputRole = Literal["beacon", "status_led"]


class OutputLine(StrictModel):
    """One GPIO output line of the board."""

    name: str = Field(
        pattern=r"^[a-z0-9_]{1,32}$", description="Name of the line, e.g. beacon_left."
    )
    role: OutputRole = Field(description="What the line drives.")
    gpio: int = Field(ge=0, le=27, description="BCM GPIO number on the 40-pin header.")
    active_high: bool = Field(default=True, description="False when a low level switches it on.")
    note: str = Field(default="", description="Wiring note for the installer.")


class BoardProfile(StrictModel):
    """A controller board: its name and output lines."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Profile name (the file stem).")
    description: str = Field(default="", description="What board and wiring this is.")
    outputs: tuple[OutputLine, ...] = Field(description="The output lines.")

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
