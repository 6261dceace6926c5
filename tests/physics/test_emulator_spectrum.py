"""The emulator's spectrum mode through a real pty, read with pyserial as the driver reads it.

Simulated time runs 5x faster than real time (each spectrum costs a few ms of physics);
assertions are on what the lines say, with generous real-time timeouts.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from pole_agent.clock import ScaledClock
from pole_agent.perception.spectrum import SpectrumFrame, decode_spectrum, is_spectrum_line
from simulator.ops243_emulator import Ops243Emulator
from simulator.pedestrians import along_footway
from simulator.spectrum_source import SpectrumSource
from simulator.world import Vehicle, World

TIMEOUT_S = 10.0
ANGLE_DEG = 10.0
CAR_KMH = 40.0


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Ops243Emulator]:
    child = along_footway(50, 0.0, age_group="child", height_m=1.2, speed_mps=1.3)
    world = World(pedestrians=[child], angle_deg=ANGLE_DEG)
    with Ops243Emulator(world, ScaledClock(factor=5.0), tmp_path, noise_kmh=0.0, seed=3) as emu:
        yield emu


@pytest.fixture
def port(emulator: Ops243Emulator) -> Iterator[serial.Serial]:
    with serial.Serial(emulator.port, 230400, timeout=TIMEOUT_S) as ser:
        yield ser


def send(ser: serial.Serial, command: bytes, echo: bytes) -> None:
    """Write a command and read until its echo (report lines may come first)."""
    ser.write(command)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        line = ser.readline()
        if line.strip() == echo:
            return
    pytest.fail(f"no echo {echo!r} for {command!r}")


def read_lines(ser: serial.Serial, spectra: int) -> tuple[list[SpectrumFrame], list[bytes]]:
    """Read until ``spectra`` spectrum lines decoded; also return the other lines seen."""
    frames: list[SpectrumFrame] = []
    others: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(frames) < spectra and time.monotonic() < deadline:
        line = ser.readline().rstrip(b"\r\n")
        if is_spectrum_line(line):
            decoded = decode_spectrum(line)
            assert isinstance(decoded, SpectrumFrame), decoded
            frames.append(decoded)
        elif line:
            others.append(line)
    assert len(frames) == spectra, f"only {len(frames)} spectrum lines in {TIMEOUT_S} s"
    return frames, others


def test_full_spectrum_lines_decode_and_show_the_vehicle(
    emulator: Ops243Emulator, port: serial.Serial
) -> None:
    now = emulator.clock.monotonic()  # a car entering the beam 43 m away, now
    emulator.world.add(Vehicle(1, now, CAR_KMH, "approaching", beam_length_m=40.0))
    send(port, b"OF", b'{"OutputFeature":"F"}')
    frames, others = read_lines(port, 6)
    assert others, "speed reports go on beside the spectrum"
    radial_mps = CAR_KMH / 3.6 * math.cos(math.radians(ANGLE_DEG))
    for frame in frames:
        assert frame.mode == "F" and frame.fft_size == 1024
        assert frame.sampling_rate_hz == 10_000  # the factory setting (SX)
        full = frame.full_db()
        assert not np.isnan(full).any()
        moving = full.copy()
        moving[512 - 3 : 512 + 4] = -np.inf  # the static return at 0 Hz
        peak_mps = (int(np.argmax(moving)) - 512) * frame.resolution_mps
        assert peak_mps == pytest.approx(radial_mps, abs=3 * frame.resolution_mps)
    seqs = [frame.seq for frame in frames]
    assert all(b > a for a, b in itertools.pairwise(seqs))
    assert emulator.spectrum_lines_written >= 6


def test_band_mode_rate_change_off_and_spectrum_only(
    emulator: Ops243Emulator, port: serial.Serial
) -> None:
    send(port, b"S2", b'{"SamplingRate":20000, "resolution":0.1214}')
    send(port, b"OB", b'{"OutputFeature":"B"}')
    frames, _ = read_lines(port, 3)
    for frame in frames:
        assert frame.mode == "B" and frame.sampling_rate_hz == 20_000
        assert frame.runs[0][0] <= -128 and frame.bin_count <= emulator.spectrum.policy.max_bins
        assert not np.isnan(frame.band_db(-128, 128)).any()

    send(port, b"Os", b'{"OutputFeature":"s"}')
    send(port, b"OF", b'{"OutputFeature":"F"}')
    _, others = read_lines(port, 4)
    assert others == [], "with speed output off only spectrum lines are sent"

    send(port, b"Of", b'{"OutputFeature":"f"}')
    written = emulator.spectrum_lines_written
    time.sleep(0.3)  # several frames at 5x
    assert emulator.spectrum_lines_written <= written + 1  # at most one already under way


def test_a_power_cycle_turns_the_spectrum_off(emulator: Ops243Emulator) -> None:
    assert emulator.command("OF") == [b'{"OutputFeature":"F"}\r\n']
    modes = [emulator.spectrum.mode]
    emulator.unplug()
    emulator.replug()
    modes.append(emulator.spectrum.mode)
    assert modes == ["full", "off"]


def test_the_spectrum_source_is_deterministic_for_a_seed() -> None:
    def lines(seed: int) -> list[bytes]:
        world = World([Vehicle(1, 0.0, 30.0, "approaching")], angle_deg=5.0)
        source = SpectrumSource(world, seed=seed)
        assert source.line_at(1.0, 1.0, 20_000) is None  # off until commanded
        assert source.command("UK") is None  # not a spectrum command: the protocol's
        assert source.command("OB") == [b'{"OutputFeature":"B"}\r\n']
        made = [source.line_at(t, t, 20_000) for t in (1.0, 1.1, 1.2)]
        return [line for line in made if line is not None]

    first = lines(4)
    assert first == lines(4)
    assert first != lines(5)
    assert all(line.endswith(b"\r\n") for line in first)
