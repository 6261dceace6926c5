"""``pole-agent radar record`` and ``pole-agent radar replay``: real sensor data to a file and back.

An installer or engineer records what a radar sends (raw lines, spectra included, with their
arrival times) through the real driver, so the recording starts with the sensor configured as
the pole configures it; replay feeds a recording back through the same parser, the same
stale/stuck watch and the same transit tracker the agent runs, and prints what they made of it.
Tests replay recordings made from the emulator. Spectrum lines in a recording also go through
the kerb radar model (``--model-file``, default the shipped one; ``--no-model``), which prints
what it saw in each window (``pole_agent.perception.model_replay``).

The file (docs/radar.md, "Recordings") is JSON lines, UTF-8:

- first a header: ``{"format": "pole-agent-radar-recording", "version": 1, "started": ISO-8601,
  "port": ..., "model": ..., "sample_rate_hz": ..., "mounting_angle_deg": ...,
  "lateral_offset_m": ...}``
- then one object per received line: ``{"t": 12.345678, "text": "..."}`` with ``t`` in seconds
  since the recording started (monotonic), and the line (terminator stripped) as text when it is
  printable ASCII, else ``{"t": ..., "b64": "..."}`` (base64 of the raw bytes: garbage and
  wrong-baud bytes survive exactly)
- last, when the recording ended cleanly: ``{"end": true, "lines": N, "identity": {...}}``

Readers ignore objects of other shapes, so later versions may add kinds.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pole_agent.clock import SystemClock
from pole_agent.config import (
    SAMPLE_RATES_HZ,
    ConfigError,
    RadarConfig,
    TrackingConfig,
    load_config,
)
from pole_agent.drivers.radar_watch import RadarWatch
from pole_agent.drivers.serial_radar import SerialRadar
from pole_agent.perception.model_replay import ModelReplay
from pole_agent.perception.radar_lines import (
    ParsedLine,
    RangeFrame,
    Rejected,
    SpectrumLine,
    SpeedFrame,
    parse_line,
)
from pole_agent.perception.transit import Transit, TransitTracker
from pole_agent.ports import Clock

FORMAT = "pole-agent-radar-recording"
VERSION = 1
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09}


class RecordingError(Exception):
    """A recording file that cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class RecordedLine:
    t: float
    line: bytes


def encode_line(t: float, line: bytes) -> str:
    """One record of the file (no newline)."""
    if all(b in _PRINTABLE for b in line):
        return json.dumps({"t": round(t, 6), "text": line.decode("ascii")})
    return json.dumps({"t": round(t, 6), "b64": base64.b64encode(line).decode("ascii")})


def header(config: RadarConfig, started: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "started": started,
        "port": config.port,
        "model": config.model,
        "sample_rate_hz": config.sample_rate_hz,
        "mounting_angle_deg": config.mounting_angle_deg,
        "lateral_offset_m": config.lateral_offset_m,
    }


class Recorder:
    """Writes a recording; ``tap`` is the driver's raw-line callback (its reader thread)."""

    def __init__(self, stream: IO[str], config: RadarConfig, clock: Clock) -> None:
        self._stream = stream
        self._clock = clock
        self._t0 = clock.monotonic()
        self._lock = threading.Lock()
        self.lines = 0
        stream.write(json.dumps(header(config, clock.wall().isoformat())) + "\n")

    def tap(self, line: bytes, t: float) -> None:
        record = encode_line(max(0.0, t - self._t0), line)
        with self._lock:
            self._stream.write(record + "\n")
            self.lines += 1

    def finish(self, identity: dict[str, object] | None) -> None:
        with self._lock:
            self._stream.write(
                json.dumps({"end": True, "lines": self.lines, "identity": identity}) + "\n"
            )
            self._stream.flush()


def record(
    config: RadarConfig,
    out: Path,
    *,
    seconds: float | None,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Record from the radar through the real driver until ``seconds`` pass (real time) or
    ``stop`` is set; returns the number of lines recorded."""
    clock = clock or SystemClock()
    stop = stop or threading.Event()
    with out.open("w", encoding="utf-8") as stream:
        recorder = Recorder(stream, config, clock)
        radar = SerialRadar(
            config,
            clock,
            lambda parsed: None,
            lambda now: None,
            name="radar.record",
            raw_tap=recorder.tap,
        )
        radar.start()
        try:
            stop.wait(seconds)
        finally:
            radar.stop()
        identity = radar.identity.as_dict() if radar.identity else None
        recorder.finish(identity)
        return recorder.lines


def read_recording(path: Path) -> tuple[dict[str, Any], Iterator[RecordedLine]]:
    """The header and an iterator over the recorded lines; raises RecordingError."""
    try:
        stream = path.open("r", encoding="utf-8")
    except OSError as err:
        raise RecordingError(f"{path}: cannot read: {err.strerror or err}") from None
    first = stream.readline()
    try:
        head = json.loads(first)
    except ValueError:
        stream.close()
        raise RecordingError(f"{path}:1: not a recording (no JSON header)") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        stream.close()
        raise RecordingError(f"{path}:1: not a {FORMAT} file")
    if head.get("version") != VERSION:
        stream.close()
        raise RecordingError(f"{path}:1: version {head.get('version')!r} is not {VERSION}")

    def lines() -> Iterator[RecordedLine]:
        with stream:
            for number, text in enumerate(stream, start=2):
                yield from _decode_record(path, number, text)

    return head, lines()


def _decode_record(path: Path, number: int, text: str) -> Iterator[RecordedLine]:
    try:
        obj = json.loads(text)
    except ValueError:
        raise RecordingError(f"{path}:{number}: not JSON") from None
    if not isinstance(obj, dict) or "t" not in obj:
        return
    t = obj["t"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
        raise RecordingError(f"{path}:{number}: t must be a number of seconds >= 0")
    if isinstance(obj.get("text"), str):
        try:
            yield RecordedLine(float(t), obj["text"].encode("ascii"))
        except UnicodeEncodeError:
            raise RecordingError(f"{path}:{number}: text is not ASCII") from None
    elif isinstance(obj.get("b64"), str):
        try:
            yield RecordedLine(float(t), base64.b64decode(obj["b64"], validate=True))
        except (binascii.Error, ValueError):
            raise RecordingError(f"{path}:{number}: b64 is not base64") from None
    else:
        raise RecordingError(f"{path}:{number}: a line record needs 'text' or 'b64'")


@dataclass
class ReplayResult:
    lines: int = 0
    frames: int = 0
    ranges: int = 0
    spectra: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    transits: list[Transit] = field(default_factory=list)
    health: list[tuple[float, str]] = field(default_factory=list)
    """(t, verdict) each time the watch changed its mind: "ok", "stale: ...", "stuck: ..."."""


def replay(
    lines: Iterator[RecordedLine],
    config: RadarConfig,
    tracking: TrackingConfig,
    *,
    speed: float = 0.0,
    on_transit: Callable[[Transit], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_spectrum: Callable[[SpectrumLine], None] | None = None,
) -> ReplayResult:
    """Feed recorded lines through the parser, the watch and the tracker, at ``speed`` times
    real time (0: as fast as possible)."""
    tracker = TransitTracker(tracking, config.mounting_angle_deg, config.lateral_offset_m)
    watch = RadarWatch(config.stale_after_s, config.stuck_after_s)
    watch.restart(0.0)
    result = ReplayResult()
    verdict = "ok"
    previous_t = 0.0

    def closed(transits: list[Transit]) -> None:
        for transit in transits:
            if transit.noise:
                continue
            result.transits.append(transit)
            if on_transit is not None:
                on_transit(transit)

    def check(now: float) -> None:
        nonlocal verdict
        current = watch.check(now)
        text = current.reason or "ok"
        if text != verdict:
            verdict = text
            result.health.append((now, text))

    for item in lines:
        if speed > 0 and item.t > previous_t:
            sleep((item.t - previous_t) / speed)
        check(item.t)  # silence before this line shows as stale before it ends
        previous_t = item.t
        result.lines += 1
        parsed: ParsedLine = parse_line(item.line, item.t, config.max_speed_kmh)
        watch.observe(parsed)
        if isinstance(parsed, Rejected):
            result.rejected[parsed.reason] += 1
        elif isinstance(parsed, SpeedFrame):
            result.frames += 1
            closed(tracker.update_frame(parsed).closed)
        elif isinstance(parsed, RangeFrame):
            result.ranges += 1
            tracker.update_ranges(parsed)
        elif isinstance(parsed, SpectrumLine):
            result.spectra += 1
            if on_spectrum is not None:
                on_spectrum(parsed)
        check(item.t)
        closed(tracker.tick(item.t))
    closed(tracker.flush())
    return result


def describe(transit: Transit) -> str:
    text = (
        f"transit {transit.transit_id:4d} {transit.direction:11} peak {transit.peak_kmh:6.1f} "
        f"median {transit.median_kmh:6.1f} km/h  {transit.samples:4d} frames  "
        f"{transit.start_t:9.2f}-{transit.end_t:9.2f} s"
    )
    if transit.first_range_m is not None:
        text += f"  first seen at {transit.first_range_m:.1f} m"
    return text


# -- command line --------------------------------------------------------------------------------


def _radar_config(
    args: argparse.Namespace, head: dict[str, Any] | None = None
) -> tuple[RadarConfig, TrackingConfig]:
    """The radar's settings: from ``--config`` (its road or kerb radar), else the recording's
    header, else the defaults; command-line options win."""
    base = RadarConfig()
    tracking = TrackingConfig()
    if args.config is not None:
        pole = load_config(args.config)
        chosen = getattr(pole.radars, args.role)
        if chosen is None:
            raise ConfigError(str(args.config), [f"radars.{args.role}: not configured"])
        base, tracking = chosen, pole.tracking
    elif head is not None:
        keys = ("model", "sample_rate_hz", "mounting_angle_deg")
        fields: dict[str, Any] = {k: head[k] for k in keys if k in head}
        if head.get("lateral_offset_m") is not None:
            fields["lateral_offset_m"] = head["lateral_offset_m"]
        base = RadarConfig.model_validate(fields)
    updates = {
        key: value
        for key, value in (
            ("port", getattr(args, "port", None)),
            ("baud", getattr(args, "baud", None)),
            ("model", getattr(args, "model", None)),
            ("sample_rate_hz", getattr(args, "rate", None)),
            ("mounting_angle_deg", getattr(args, "angle", None)),
        )
        if value is not None
    }
    return RadarConfig.model_validate({**base.model_dump(), **updates}), tracking


def cmd_record(args: argparse.Namespace) -> int:
    try:
        config, _ = _radar_config(args)
    except (ConfigError, ValueError) as err:
        print(f"cannot record: {err}", file=sys.stderr)
        return 1
    print(f"recording {config.port} ({config.model}) to {args.out} ...", file=sys.stderr)
    try:
        count = record(config, args.out, seconds=args.seconds)
    except OSError as err:
        print(f"cannot record: {err}", file=sys.stderr)
        return 1
    print(f"{count} lines recorded in {args.out}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        head, lines = read_recording(args.file)
        config, tracking = _radar_config(args, head)
        model = None if args.no_model else ModelReplay(args.model_file, config.sample_rate_hz)
        result = replay(
            lines,
            config,
            tracking,
            speed=args.speed,
            on_transit=lambda transit: print(describe(transit), flush=True),
            on_spectrum=None if model is None else model.print_windows,
        )
    except (RecordingError, ConfigError, ValueError) as err:
        print(f"cannot replay: {err}", file=sys.stderr)
        return 1
    print(
        f"{result.lines} lines: {result.frames} speed frames, {result.ranges} range reports, "
        f"{result.spectra} spectra, {result.rejected.total()} rejected; "
        f"{len(result.transits)} transits"
    )
    for reason, count in sorted(result.rejected.items()):
        print(f"  rejected {reason}: {count}")
    for t, verdict in result.health:
        print(f"  health at {t:.2f} s: {verdict}")
    if model is not None and result.spectra:
        print(model.summary())
    return 0


def add_radar_commands(sub: Any) -> None:
    """Register ``radar record`` and ``radar replay`` on the CLI's sub-parsers."""
    radar = sub.add_parser("radar", help="radar tools: record and replay raw sensor data")
    radar_sub = radar.add_subparsers(dest="radar_command", required=True, metavar="ACTION")

    rec = radar_sub.add_parser("record", help="record a radar's raw lines to a file")
    rec.add_argument("--port", required=True, help="serial device, e.g. /dev/radar-road")
    rec.add_argument("--seconds", type=_positive, default=None, help="stop after (default: ^C)")
    rec.add_argument("--out", type=Path, required=True, help="recording file (JSON lines)")
    rec.add_argument("--baud", type=int, default=None, help="serial speed (UART)")
    rec.add_argument("--model", choices=("OPS243-A", "OPS243-C"), default=None)
    rec.add_argument("--rate", type=int, choices=SAMPLE_RATES_HZ, default=None, help="Hz")
    _add_config_options(rec)
    rec.set_defaults(func=cmd_record)

    rep = radar_sub.add_parser("replay", help="feed a recording through parser and tracker")
    rep.add_argument("file", type=Path)
    rep.add_argument(
        "--speed", type=_non_negative, default=0.0, help="x real time (default 0: at once)"
    )
    rep.add_argument("--angle", type=float, default=None, help="mounting angle (deg)")
    rep.add_argument(
        "--model-file", type=Path, default=None, help="kerb model for spectra (default: shipped)"
    )
    rep.add_argument("--no-model", action="store_true", help="do not run the model on spectra")
    _add_config_options(rep)
    rep.set_defaults(func=cmd_replay)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, default=None, help="pole config (TOML)")
    parser.add_argument("--role", choices=("road", "kerb"), default="road")


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0: {text!r}")
    return value
