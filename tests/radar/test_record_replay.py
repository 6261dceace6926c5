"""``pole-agent radar record`` / ``replay``: a recording made from the emulator through the real
driver, replayed through the parser and tracker, gives back the vehicles that drove by."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pole_agent.cli import main
from pole_agent.clock import ScaledClock
from pole_agent.config import RadarConfig, TrackingConfig
from pole_agent.radar_tools import (
    FORMAT,
    RecordingError,
    encode_line,
    read_recording,
    record,
    replay,
)
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import Vehicle, World

ANGLE = 10.0
TRUTH = [(38.0, "approaching"), (52.0, "receding"), (27.0, "approaching")]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("rec")
    # x5, not faster: the recorder stamps lines on arrival, so a real stall of the loaded test
    # machine is stretched by the factor and could split a transit in the replay.
    clock = ScaledClock(5.0)
    vehicles = [
        Vehicle(i + 1, 4.0 + 8.0 * i, speed, direction)  # type: ignore[arg-type]
        for i, (speed, direction) in enumerate(TRUTH)
    ]
    emulator = Ops243Emulator(
        World(vehicles, angle_deg=ANGLE), clock, tmp, noise_kmh=0.2, seed=5, model="OPS243-C"
    )
    emulator.start()
    out = tmp / "road.jsonl"
    stop = threading.Event()
    config = RadarConfig(port=emulator.port, model="OPS243-C", mounting_angle_deg=ANGLE)
    injector = threading.Timer(0.5, lambda: emulator.inject_line(b"\xff\xfe garbage\r\n"))
    injector.start()
    try:
        lines = record(config, out, seconds=6.4, clock=clock, stop=stop)
    finally:
        injector.cancel()
        emulator.stop()
    assert lines > 100
    return out


def test_the_recording_has_a_header_lines_and_an_end(recording: Path) -> None:
    records = [json.loads(line) for line in recording.read_text().splitlines()]
    head, end = records[0], records[-1]
    assert head["format"] == FORMAT and head["version"] == 1
    assert head["model"] == "OPS243-C" and head["mounting_angle_deg"] == ANGLE
    assert end["end"] is True and end["lines"] == len(records) - 2
    assert end["identity"]["product"] == "OPS243-C FMCW & Doppler"
    texts = [r.get("text", "") for r in records[1:-1]]
    assert '{"Units":"km-per-hr"}' in texts  # the start-up dialogue is recorded too
    assert any('"range"' in text for text in texts)
    assert any("b64" in r for r in records[1:-1])  # the garbage, byte for byte
    times = [r["t"] for r in records[1:-1]]
    assert times == sorted(times)


def test_replay_gives_back_the_vehicles(recording: Path) -> None:
    head, lines = read_recording(recording)
    config = RadarConfig(model="OPS243-C", mounting_angle_deg=head["mounting_angle_deg"])
    result = replay(lines, config, TrackingConfig())
    got = [(round(t.median_kmh), t.direction) for t in result.transits]
    assert [d for _, d in got] == [d for _, d in TRUTH]
    for transit, (speed, _) in zip(result.transits, TRUTH, strict=True):
        assert abs(transit.median_kmh - speed) <= 1.0
        assert transit.first_range_m is not None
    assert result.rejected["not_text"] == 1
    assert result.ranges > 0
    assert result.health == []  # the sensor never went quiet


def test_cli_replay_prints_transits_and_rejections(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["radar", "replay", str(recording)]) == 0
    out = capsys.readouterr().out
    assert out.count("transit ") == len(TRUTH)
    assert "first seen at" in out
    assert "rejected not_text: 1" in out


def test_replay_at_a_speed_waits_between_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        json.dumps({"format": FORMAT, "version": 1})
        + "\n"
        + "\n".join(encode_line(t, b'{"speed":30.0}') for t in (0.0, 1.0, 3.0))
        + "\n"
    )
    slept: list[float] = []
    _, lines = read_recording(path)
    replay(lines, RadarConfig(), TrackingConfig(), speed=2.0, sleep=slept.append)
    assert slept == [0.5, 1.0]


def test_silence_in_a_recording_shows_as_stale(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    times = [0.1 * i for i in range(20)] + [10.0 + 0.1 * i for i in range(5)]
    path.write_text(
        json.dumps({"format": FORMAT, "version": 1})
        + "\n"
        + "\n".join(encode_line(t, b'{"speed":0.0}') for t in times)
        + "\n"
    )
    _, lines = read_recording(path)
    result = replay(lines, RadarConfig(stale_after_s=2.0), TrackingConfig())
    assert [verdict for _, verdict in result.health] == [
        "stale: no report for over 2 s",
        "ok",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no JSON header"),
        ('{"format":"other"}\n', "not a pole-agent-radar-recording"),
        (f'{{"format":"{FORMAT}","version":9}}\n', "version 9"),
        (f'{{"format":"{FORMAT}","version":1}}\n{{"t":-1,"text":"1"}}\n', ":2: t must be"),
        (f'{{"format":"{FORMAT}","version":1}}\n{{"t":1,"b64":"!!"}}\n', "not base64"),
        (f'{{"format":"{FORMAT}","version":1}}\nnot json\n', ":2: not JSON"),
    ],
)
def test_bad_recordings_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(RecordingError, match=words):
        _, lines = read_recording(path)
        list(lines)
    assert main(["radar", "replay", str(path)]) == 1


def test_record_needs_a_port_and_an_out_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["radar", "record", "--out", "x.jsonl"])
    assert info.value.code == 2
