"""The OPS243 emulator at the wire: pyserial on the pty, as the agent's driver will use it.

Simulated time runs 20x faster than real time; assertions are on counts and values, with
generous real-time timeouts, never on how fast the shared machine happened to be.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from pole_agent.clock import ScaledClock
from simulator.ops243_emulator import Ops243Emulator
from simulator.ops243_protocol import (
    CommandParser,
    Ops243Settings,
    max_speed_mps,
    measure_mps,
    resolution_mps,
)
from simulator.world import Vehicle, World

FACTOR = 20.0
TIMEOUT_S = 5.0  # real seconds any single wait may take before a test fails


class Recorder:
    """``on_write`` callback: the report lines written and the simulated time of each."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.lines: list[tuple[bytes, float]] = []
        self.perf_ns: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, line: bytes, perf_ns: int) -> None:
        with self._lock:
            self.lines.append((line, self.clock.monotonic()))
            self.perf_ns.append(perf_ns)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(factor=FACTOR)


@pytest.fixture
def emulator(tmp_path: Path, clock: ScaledClock) -> Iterator[Ops243Emulator]:
    with Ops243Emulator(World(), clock, tmp_path, noise_kmh=0.0) as emu:
        yield emu


@pytest.fixture
def port(emulator: Ops243Emulator) -> Iterator[serial.Serial]:
    with serial.Serial(emulator.port, 19200, timeout=TIMEOUT_S) as ser:
        yield ser


def is_report(line: bytes) -> bool:
    return line.strip() == b"" or b'"speed"' in line or not line.startswith(b"{")


def send(ser: serial.Serial, command: bytes, echoes: int = 1) -> list[bytes]:
    """Write a command and return its echo lines, skipping report lines in between."""
    ser.write(command)
    found: list[bytes] = []
    while len(found) < echoes:
        line = ser.readline()
        assert line.endswith(b"\r\n"), f"no echo for {command!r}, got {line!r}"
        if not is_report(line):
            found.append(line)
    return found


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def read_lines(ser: serial.Serial, count: int) -> list[bytes]:
    lines = [ser.readline() for _ in range(count)]
    assert all(line.endswith(b"\r\n") for line in lines), lines
    return lines


def speed_of(line: bytes) -> float:
    if line.startswith(b"{"):
        return float(json.loads(line)["speed"])
    return float(line.split(b",")[-1])


# -- protocol without a pty -----------------------------------------------------------------
def test_parser_handles_split_batched_and_terminated_commands() -> None:
    parser = CommandParser()
    assert parser.feed(b"U") == []
    assert parser.feed(b"KR") == ["UK"]
    assert parser.feed(b">1") == []
    assert parser.feed(b"2.5\r") == ["R>12.5"]
    assert parser.feed(b"OJ\r\nR<40\nSX??") == ["OJ", "R<40", "SX", "??"]
    assert parser.feed(b"C=" + b"9" * 40) == ["C=" + "9" * 30]  # never terminated: cut off
    assert parser.feed(b"99\rUK") == ["UK"]  # and its tail skipped to the line end


def test_resolution_and_aliasing_scale_with_sampling_rate() -> None:
    assert resolution_mps(10_000) == pytest.approx(0.0607, abs=1e-4)
    assert max_speed_mps(10_000) == pytest.approx(31.07, abs=0.01)
    assert resolution_mps(20_000) == pytest.approx(2 * resolution_mps(10_000))
    assert measure_mps(10.0, 10_000) == pytest.approx(10.0, abs=resolution_mps(10_000) / 2)
    assert measure_mps(35.0, 10_000) == pytest.approx(35.0 - 2 * 31.07, abs=0.05)  # wraps
    assert measure_mps(35.0, 20_000) == pytest.approx(35.0, abs=0.07)  # fits at 20 kHz
    assert measure_mps(-35.0, 10_000) == pytest.approx(-35.0 + 2 * 31.07, abs=0.05)
    step = resolution_mps(10_000)
    bins = measure_mps(12.345, 10_000) / step
    assert bins == pytest.approx(round(bins), abs=1e-9)
    assert measure_mps(12.345, 10_000, resolution_override_mps=0.0) == 12.345


# -- command echoes through pyserial ----------------------------------------------------------
def sampling_echo(rate: int) -> str:
    return f'{{"SamplingRate":{rate}, "resolution":{resolution_mps(rate):.4f}}}'


ECHOES: list[tuple[bytes, str]] = [
    (b"UK", '{"Units":"km-per-hr"}'),
    (b"UM", '{"Units":"m-per-sec"}'),
    (b"US", '{"Units":"mph"}'),
    (b"U?", '{"Units":"mph"}'),
    (b"OJ", '{"OutputFeature":"J"}'),
    (b"Oj", '{"OutputFeature":"j"}'),
    (b"R+", '{"RequiredDirection":"Inbound"}'),
    (b"R-", '{"RequiredDirection":"Outbound"}'),
    (b"R|", '{"RequiredDirection":"Both"}'),
    (b"R>5\r", '{"RequiredMinSpeed":"5.000"}'),
    (b"R<70.5\r", '{"RequiredMaxSpeed":"70.500"}'),
    (b"R>0\r", '{"RequiredMinSpeed":"0.000"}'),
    (b"R<0\r", '{"RequiredMaxSpeed":"0.000"}'),
    (b"SI", sampling_echo(1_000)),
    (b"SV", sampling_echo(5_000)),
    (b"S2", sampling_echo(20_000)),
    (b"SL", sampling_echo(50_000)),
    (b"SC", sampling_echo(100_000)),
    (b"SX", sampling_echo(10_000)),
    (b"?P", '{"Product":"OPS243 Doppler"}'),
    (b"?V", '{"Version":"1.3.1"}'),
    (b"N?", '{"DetectedObjectCount":0}'),
    (b"N!", '{"DetectedObjectCount":0}'),
    (b"OS", '{"OutputFeature":"S"}'),
    (b"OM", '{"OutputFeature":"M"}'),
    (b"Om", '{"OutputFeature":"m"}'),
    (b"OT", '{"OutputFeature":"T"}'),
    (b"Ot", '{"OutputFeature":"t"}'),
    (b"BZ", '{"BlankReporting":"Zeros"}'),
    (b"BL", '{"BlankReporting":"BlankLines"}'),
    (b"BV", '{"BlankReporting":"Off"}'),
    (b"F3", '{"DecimalPlaces":3}'),
    (b"A!", '{"Flash":"SettingsSaved"}'),
    (b"AX", '{"Flash":"FactoryDefaults"}'),
    (b"XX", '{"error":"unknown command","command":"XX"}'),
    (b"R>fast\r", '{"error":"bad number","command":"R>fast"}'),
]


def test_every_command_is_echoed(emulator: Ops243Emulator, port: serial.Serial) -> None:
    for command, expected in ECHOES:
        (echo,) = send(port, command)
        assert echo == expected.encode() + b"\r\n", command
        json.loads(echo)  # every echo is one JSON object
    assert emulator.commands_received == len(ECHOES)
    assert emulator.settings == Ops243Settings()  # AX restored the factory settings


def test_info_query_answers_one_json_object_a_line(port: serial.Serial) -> None:
    lines = send(port, b"??", echoes=8)
    objects = [json.loads(line) for line in lines]
    assert objects[0] == {"Product": "OPS243"}
    assert objects[2] == {"SamplingRate": 10000, "resolution": 0.0607}
    assert objects[-1] == {"RequiredMinSpeed": "0.000"}
    (uid_line,) = send(port, b"?U")
    assert len(json.loads(uid_line)["UID"]) == 24


def test_commands_split_across_writes_or_batched(port: serial.Serial) -> None:
    for chunk in (b"U", b"KR", b">1", b"2\r"):
        port.write(chunk)
        port.flush()
        time.sleep(0.02)
    assert read_lines(port, 2) == [
        b'{"Units":"km-per-hr"}\r\n',
        b'{"RequiredMinSpeed":"12.000"}\r\n',
    ]
    assert send(port, b"UM\r\nOJOj?P", echoes=4) == [
        b'{"Units":"m-per-sec"}\r\n',
        b'{"OutputFeature":"J"}\r\n',
        b'{"OutputFeature":"j"}\r\n',
        b'{"Product":"OPS243 Doppler"}\r\n',
    ]


# -- report lines ------------------------------------------------------------------------------
def test_units_sign_and_quantisation(emulator: Ops243Emulator, port: serial.Serial) -> None:
    send(port, b"F5")
    cases = [(b"UK", 1.0), (b"UM", 1 / 3.6), (b"US", 1 / 1.609344)]
    for units, per_kmh in cases:
        send(port, units)
        for radial_kmh in (40.0, -40.0, 7.3):
            line = emulator.write_report_now(radial_kmh)
            assert port.readline() == line
            value = float(line)
            step = resolution_mps(10_000) * 3.6 * per_kmh
            assert value == pytest.approx(radial_kmh * per_kmh, abs=step / 2 + 1e-5)
            assert value / step == pytest.approx(round(value / step), abs=1e-3)
    send(port, b"S2UK", echoes=2)
    coarse = float(emulator.write_report_now(40.0))
    step = resolution_mps(20_000) * 3.6  # twice as coarse at 20 kHz
    assert coarse / step == pytest.approx(round(coarse / step), abs=1e-3)


def test_speeds_beyond_the_band_alias(emulator: Ops243Emulator, port: serial.Serial) -> None:
    send(port, b"UK")
    wrapped = float(emulator.write_report_now(130.0))  # 36 m/s > 31 m/s at 10 kHz
    assert wrapped == pytest.approx(130.0 - 2 * max_speed_mps(10_000) * 3.6, abs=0.3)
    send(port, b"S2")
    assert float(emulator.write_report_now(130.0)) == pytest.approx(130.0, abs=0.5)


def test_output_forms(emulator: Ops243Emulator, port: serial.Serial) -> None:
    send(port, b"UK")
    emulator.set_stuck(36.0)
    send(port, b"OT")
    time_speed = read_lines(port, 2)[-1].split(b", ")
    assert len(time_speed) == 2 and float(time_speed[0]) > 0
    send(port, b"OM")
    columns = read_lines(port, 2)[-1].split(b", ")
    assert len(columns) == 3
    assert float(columns[1]) == 100.0
    assert float(columns[2]) == pytest.approx(36.0, abs=0.2)
    send(port, b"OJ")
    report = json.loads(read_lines(port, 2)[-1])
    assert set(report) == {"speed", "direction", "magnitude", "time"}
    assert report["direction"] == "inbound"
    send(port, b"OmOt", echoes=2)
    assert json.loads(read_lines(port, 2)[-1]).keys() == {"speed", "direction"}
    emulator.set_stuck(-36.0)
    send(port, b"Oj")
    assert all(speed_of(line) < 0 for line in read_lines(port, 3))


def test_json_numbers_as_strings(tmp_path: Path, clock: ScaledClock) -> None:
    with (
        Ops243Emulator(World(), clock, tmp_path, json_numbers_as_strings=True) as emu,
        serial.Serial(emu.port, timeout=TIMEOUT_S) as ser,
    ):
        send(ser, b"OJOM", echoes=2)
        report = json.loads(emu.write_report_now(-20.0))
        assert ser.readline().startswith(b'{"speed":"-')
        assert isinstance(report["speed"], str) and isinstance(report["magnitude"], str)
        assert report["direction"] == "outbound"


def test_direction_and_speed_filters(emulator: Ops243Emulator, port: serial.Serial) -> None:
    send(port, b"UK")
    emulator.set_stuck(-30.0)

    def lines_flow(flowing: bool) -> None:
        port.reset_input_buffer()
        before = emulator.lines_written
        if flowing:
            wait_for(lambda: emulator.lines_written >= before + 3, "report lines")
            assert speed_of(port.readline()) == pytest.approx(-30.0, abs=0.2)
        else:
            time.sleep(2.0 / FACTOR)  # two simulated seconds, twenty frames
            assert emulator.lines_written == before

    lines_flow(True)
    send(port, b"R+")
    lines_flow(False)
    send(port, b"R-")
    lines_flow(True)
    send(port, b"R>35\r")
    lines_flow(False)
    send(port, b"R>25\r")
    lines_flow(True)
    send(port, b"R<28\r")
    lines_flow(False)
    send(port, b"R<0\rR|", echoes=2)
    lines_flow(True)


def test_blank_reports(emulator: Ops243Emulator, port: serial.Serial) -> None:
    send(port, b"BZ")
    assert read_lines(port, 3) == [b"0.00\r\n"] * 3
    send(port, b"OJ")
    assert read_lines(port, 2)[-1] == b'{"speed":0.00}\r\n'
    send(port, b"BL")
    assert read_lines(port, 3) == [b"\r\n"] * 3
    send(port, b"BV")
    port.reset_input_buffer()
    before = emulator.lines_written
    time.sleep(1.0 / FACTOR)
    assert emulator.lines_written == before


def run_vehicles(
    tmp_path: Path, clock: ScaledClock, vehicles: list[Vehicle], angle_deg: float, **kwargs: Any
) -> tuple[Recorder, list[bytes], Ops243Emulator]:
    """Run the emulator until every vehicle has passed; return what was written and read."""
    recorder = Recorder(clock)
    world = World(vehicles, angle_deg=angle_deg)
    emu = Ops243Emulator(world, clock, tmp_path, on_write=recorder, seed=5, **kwargs)
    with emu, serial.Serial(emu.port, timeout=TIMEOUT_S) as ser:
        end = max(v.exit_s for v in vehicles) + 0.5
        wait_for(lambda: clock.monotonic() > end, "the vehicles to pass")
        read = [ser.readline() for _ in range(emu.lines_written)]
    return recorder, read, emu


def test_approaching_vehicle_seen_at_the_cosine_speed(tmp_path: Path, clock: ScaledClock) -> None:
    car = Vehicle(1, clock.monotonic() + 1.0, 40.0, "approaching")  # 4.5 s in the beam
    recorder, read, _ = run_vehicles(tmp_path, clock, [car], angle_deg=20)
    assert read == [line for line, _ in recorder.lines]
    assert recorder.perf_ns == sorted(recorder.perf_ns)
    assert recorder.perf_ns[-1] <= time.perf_counter_ns()
    expected_mps = 40.0 * math.cos(math.radians(20)) / 3.6
    speeds = [speed_of(line) for line in read]
    assert all(v == pytest.approx(expected_mps, abs=0.3) for v in speeds)  # m/s by default
    assert sum(speeds) / len(speeds) == pytest.approx(expected_mps, abs=0.05)
    assert 0.6 * car.dwell_s * 10 <= len(speeds) <= car.dwell_s * 10 + 1
    times = [t for _, t in recorder.lines]
    assert car.enter_s <= min(times) and max(times) <= car.exit_s + 1.0


def test_receding_vehicle_reads_negative(tmp_path: Path, clock: ScaledClock) -> None:
    car = Vehicle(1, clock.monotonic() + 0.5, 54.0, "receding", beam_length_m=30.0)
    _, read, emu = run_vehicles(tmp_path, clock, [car], angle_deg=0)
    assert len(read) >= 10
    assert all(speed_of(line) == pytest.approx(-15.0, abs=0.3) for line in read)
    assert emu.detected_count == 1


def test_two_vehicles_the_stronger_is_reported(tmp_path: Path, clock: ScaledClock) -> None:
    start = clock.monotonic() + 0.5
    fast = Vehicle(1, start, 60.0, "approaching")  # nearer (stronger) until it leaves at +3 s
    slow = Vehicle(2, start, 30.0, "approaching")  # alone from +3 s to +6 s
    recorder, _, emu = run_vehicles(tmp_path, clock, [fast, slow], angle_deg=0)
    during = [speed_of(line) for line, t in recorder.lines if start + 0.3 < t < start + 2.8]
    after = [speed_of(line) for line, t in recorder.lines if start + 3.3 < t < start + 5.8]
    assert during and after
    assert all(v == pytest.approx(60 / 3.6, abs=0.3) for v in during)
    assert all(v == pytest.approx(30 / 3.6, abs=0.3) for v in after)
    assert emu.detected_count == 2


def test_dropouts_thin_the_reports(tmp_path: Path, clock: ScaledClock) -> None:
    car = Vehicle(1, clock.monotonic() + 0.5, 36.0, "approaching")  # 5 s: 50 frames
    recorder, _, _ = run_vehicles(tmp_path, clock, [car], angle_deg=0, dropout_prob=0.5)
    assert 8 <= len(recorder.lines) <= 40


# -- faults ----------------------------------------------------------------------------------
def test_unplug_fails_the_reader_and_replug_restores_factory_settings(
    emulator: Ops243Emulator, port: serial.Serial
) -> None:
    send(port, b"UKOJ", echoes=2)
    emulator.unplug()
    assert not Path(emulator.port).exists()
    with pytest.raises(serial.SerialException):
        port.readline()
    with pytest.raises(serial.SerialException):
        port.write(b"??")
    assert emulator.inject_line(b"lost\r\n") == 0  # writes to a pulled cable are ignored
    assert emulator.write_report_now(10.0) == b""
    port.close()

    emulator.replug()
    assert Path(emulator.port).exists()
    assert emulator.settings == Ops243Settings()
    with serial.Serial(emulator.port, timeout=TIMEOUT_S) as again:
        assert send(again, b"U?") == [b'{"Units":"m-per-sec"}\r\n']
        line = emulator.write_report_now(36.0)
        assert again.readline() == line and not line.startswith(b"{")
    assert emulator.errors == 0


def test_settings_saved_to_flash_survive_a_power_cycle(
    emulator: Ops243Emulator, port: serial.Serial
) -> None:
    send(port, b"UKA!", echoes=2)
    emulator.unplug()
    port.close()
    emulator.replug()
    assert emulator.settings.units == "km-per-hr"


def test_silent_sensor_neither_reports_nor_answers(
    emulator: Ops243Emulator, port: serial.Serial
) -> None:
    emulator.set_stuck(20.0)
    read_lines(port, 2)
    emulator.set_silent(True)
    time.sleep(0.5 / FACTOR)
    port.reset_input_buffer()
    before_lines, before_commands = emulator.lines_written, emulator.commands_received
    port.write(b"??")
    wait_for(lambda: emulator.commands_received == before_commands + 1, "the command")
    time.sleep(1.0 / FACTOR)
    assert port.in_waiting == 0
    assert emulator.lines_written == before_lines
    emulator.set_silent(False)
    assert read_lines(port, 2)


def test_stuck_sensor_repeats_one_value(emulator: Ops243Emulator, port: serial.Serial) -> None:
    emulator.set_stuck(50.0)
    read_lines(port, 1)  # the first line may have started before the fault
    lines = read_lines(port, 10)
    assert len(set(lines)) == 1
    emulator.set_stuck(None)
    port.reset_input_buffer()
    before = emulator.lines_written
    time.sleep(1.0 / FACTOR)
    assert emulator.lines_written == before  # empty world: nothing to report


def test_injected_garbage_and_lines_arrive_as_written(
    emulator: Ops243Emulator, port: serial.Serial
) -> None:
    garbage = emulator.inject_garbage(64, seed=1)
    assert len(garbage) == 65 and garbage.endswith(b"\n")
    assert all(byte >= 0x80 for byte in garbage[:-1])
    assert port.readline() == garbage
    for raw in (b"999\r\n", b'{"speed":12.\r\n'):
        assert emulator.inject_line(raw) == len(raw)
        assert port.readline() == raw


def test_a_failing_callback_does_not_kill_the_frames(tmp_path: Path, clock: ScaledClock) -> None:
    def explode(line: bytes, perf_ns: int) -> None:
        raise RuntimeError("callback bug")

    with Ops243Emulator(World(), clock, tmp_path, on_write=explode) as emu:
        emu.set_stuck(10.0)
        wait_for(lambda: emu.errors >= 3, "errors to be logged")
        wait_for(lambda: emu.lines_written >= 3, "frames to continue")
        assert emu.running
