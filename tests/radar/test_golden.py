"""Golden transcripts: what the emulator says on the wire, and what the parser makes of it.

Each file under tests/radar/golden/ is the exact exchange for one case: the start-up dialogue
(command, echo) for each model, and a report stream for each output mode with the parsed result
of every line. A change to the wire format or to the parser shows up as a diff here, to be read
and accepted on purpose: regenerate with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/radar``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pole_agent.clock import ManualClock
from pole_agent.config import RadarConfig
from pole_agent.drivers.ops243_session import VERIFY_QUERIES, startup_commands
from pole_agent.perception.radar_lines import parse_line
from simulator.ops243_emulator import Ops243Emulator
from simulator.ops243_protocol import Model
from simulator.world import Vehicle, World

GOLDEN = Path(__file__).parent / "golden"
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
FRAME_S = 0.1
DURATION_S = 7.0


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"


def emulator(tmp_path: Path, model: Model = "OPS243-A", **options: Any) -> Ops243Emulator:
    world = World(
        [
            Vehicle(1, 0.0, 40.0, "approaching", beam_length_m=20.0),
            Vehicle(2, 0.5, 28.0, "receding", beam_length_m=20.0),
            Vehicle(3, 2.0, 55.0, "approaching", beam_length_m=20.0, rcs_scale=3.0),
        ],
        angle_deg=10.0,
    )
    clock = ManualClock(start_monotonic=0.0)
    return Ops243Emulator(world, clock, tmp_path, noise_kmh=0.3, seed=11, model=model, **options)


@pytest.mark.parametrize("model", ["OPS243-A", "OPS243-C"])
def test_startup_dialogue(tmp_path: Path, model: Model) -> None:
    config = RadarConfig(model=model, min_magnitude=20, reports_per_frame=2)
    device = emulator(tmp_path, model)
    out: list[str] = []
    commands = [c.wire.decode() for c in startup_commands(config, EPOCH)]
    commands += [q.wire.decode() for q in VERIFY_QUERIES]
    commands += ["ZZ", "R>fast\r", "?R"]  # what the sensor says to mistakes
    for command in commands:
        out.append(f"> {command!r}")
        out += [f"< {line.decode().rstrip()}" for line in device.command(command, t=2.0)]
    check_golden(f"startup_{model}.txt", "\n".join(out) + "\n")


MODES: dict[str, tuple[Model, list[str], dict[str, Any]]] = {
    "plain_mps": ("OPS243-A", [], {}),
    "plain_time_magnitude": ("OPS243-A", ["UK", "OT", "OM"], {}),
    "json": ("OPS243-A", ["UK", "OJ", "OM"], {}),
    "json_strings": ("OPS243-A", ["UK", "OJ", "OM", "OT"], {"json_numbers_as_strings": True}),
    "json_three_targets": ("OPS243-A", ["UK", "OJ", "OM", "O3"], {}),
    "plain_two_targets": ("OPS243-A", ["UK", "O2"], {}),
    "range_json": ("OPS243-C", ["UK", "OJ", "OM", "OD", "O2"], {}),
    "range_plain": ("OPS243-C", ["UK", "OD"], {}),
    "object_reports": ("OPS243-A", ["UK", "OJ", "OC", "ON", "BV"], {}),
    "blank_zeros": ("OPS243-A", ["UK", "OJ", "BZ", "R+"], {}),
    "blank_lines": ("OPS243-A", ["UK", "BL", "R>45\r"], {}),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_report_stream(tmp_path: Path, mode: str) -> None:
    model, commands, options = MODES[mode]
    device = emulator(tmp_path, model, **options)
    for command in commands:
        device.command(command, t=0.0)
    max_kmh = RadarConfig().max_speed_kmh
    out = [f"# mode {mode}: {model} after {' '.join(c.strip() for c in commands) or '(factory)'}"]
    steps = round(DURATION_S / FRAME_S)
    for step in range(1, steps + 1):
        t = step * FRAME_S
        for raw in device.frame_lines(t):
            line = raw.rstrip(b"\r\n")
            parsed = parse_line(line, t, max_kmh)
            shown = repr(parsed).replace(f"t={t!r}, ", "")
            out.append(f"{t:4.1f} {line.decode()!s}\n     -> {shown}")
    check_golden(f"stream_{mode}.txt", "\n".join(out) + "\n")
