"""Radar lines per second on one core, and per-transit speed error against ground truth.

``python -m bench.radar_throughput`` prints two tables:

1. Throughput: lines per second that ``parse_line`` + ``TransitTracker`` sustain on one core
   (the driver's per-line work, minus the serial read), beside bare ``json.loads`` of the same
   lines in the same run (the floor any JSON parser pays). The lines are the emulator's wire
   output for busy traffic (JSON, magnitude, zero reports between vehicles).
2. Accuracy: 1,000 simulated vehicles through the emulator's wire output (noise, FFT
   quantisation at the sampling rate, the mounting angle's cosine error), parsed and tracked;
   each transit's peak and median speed against the vehicle's true speed (km/h): median and
   p95 of the absolute error, and how many vehicles were found.

Timings are figures, never assertions (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import percentile, table
from pole_agent.clock import ManualClock
from pole_agent.config import RadarConfig, TrackingConfig
from pole_agent.perception.radar_lines import SpeedFrame, parse_line
from pole_agent.perception.transit import Transit, TransitTracker
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import TrafficScenario, Vehicle, World, generate_vehicles

FRAME_S = 0.1
ANGLE_DEG = 15.0


@dataclass(frozen=True)
class Stream:
    lines: list[tuple[float, bytes]]
    vehicles: list[Vehicle]


def emulated_stream(
    vehicles: int, *, seed: int, noise_kmh: float, headway_s: float, reports: int = 1
) -> Stream:
    """The emulator's lines (terminators stripped, with times) for ``vehicles`` vehicles."""
    scenario = TrafficScenario(
        vehicles_per_hour=900.0, min_headway_s=headway_s, seed=seed, speed_sd_kmh=10.0
    )
    duration = 3600.0
    truth = generate_vehicles(scenario, duration)
    while len(truth) < vehicles:
        duration *= 1.5
        truth = generate_vehicles(scenario, duration)
    truth = truth[:vehicles]
    world = World(truth, angle_deg=ANGLE_DEG)
    end = truth[-1].exit_s + 2.0
    lines: list[tuple[float, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        device = Ops243Emulator(
            world, ManualClock(start_monotonic=0.0), Path(tmp), noise_kmh=noise_kmh, seed=seed
        )
        for command in ("UK", "OJ", "OM", "S2", "BZ", f"O{reports}"):
            device.command(command, t=0.0)
        step = 1
        while step * FRAME_S < end:
            t = step * FRAME_S
            lines += [(t, raw.rstrip(b"\r\n")) for raw in device.frame_lines(t)]
            step += 1
    return Stream(lines, truth)


def run_tracker(stream: Stream, radar: RadarConfig) -> list[Transit]:
    tracker = TransitTracker(TrackingConfig(), radar.mounting_angle_deg)
    transits: list[Transit] = []
    for t, line in stream.lines:
        parsed = parse_line(line, t, radar.max_speed_kmh)
        if isinstance(parsed, SpeedFrame):
            transits += tracker.update_frame(parsed).closed
        else:
            transits += tracker.tick(t)
    return [t for t in transits + tracker.flush() if not t.noise]


def throughput(stream: Stream, radar: RadarConfig, repeat: int) -> list[list[str]]:
    lines = [line for _, line in stream.lines] * repeat
    timed = [(i * 0.01, line) for i, line in enumerate(lines)]
    texts = [line.decode() for line in lines]

    started = time.perf_counter()
    for text in texts:
        if text:
            json.loads(text)
    baseline = len(texts) / (time.perf_counter() - started)

    started = time.perf_counter()
    for t, line in timed:
        parse_line(line, t, radar.max_speed_kmh)
    parser = len(timed) / (time.perf_counter() - started)

    tracker = TransitTracker(TrackingConfig(), radar.mounting_angle_deg)
    started = time.perf_counter()
    for t, line in timed:
        parsed = parse_line(line, t, radar.max_speed_kmh)
        if isinstance(parsed, SpeedFrame):
            tracker.update_frame(parsed)
        else:
            tracker.tick(t)
    both = len(timed) / (time.perf_counter() - started)
    return [
        ["json.loads (baseline)", f"{baseline:,.0f}", "1.00", f"{1e6 / baseline:.2f}"],
        ["parse_line", f"{parser:,.0f}", f"{parser / baseline:.2f}", f"{1e6 / parser:.2f}"],
        ["parse_line + tracker", f"{both:,.0f}", f"{both / baseline:.2f}", f"{1e6 / both:.2f}"],
    ]


def accuracy(stream: Stream, radar: RadarConfig, label: str) -> list[str]:
    transits = run_tracker(stream, radar)
    peak_errors: list[float] = []
    median_errors: list[float] = []
    found = 0
    by_start = sorted(transits, key=lambda tr: tr.start_t)
    used: set[int] = set()
    for vehicle in stream.vehicles:
        # The transit of the same direction that overlaps the vehicle's time in the beam and
        # is closest in speed (in dense traffic several overlap; each is used once).
        candidates = [
            tr
            for tr in by_start
            if tr.transit_id not in used
            and tr.direction == vehicle.direction
            and tr.start_t <= vehicle.exit_s
            and tr.end_t >= vehicle.enter_s - 0.2
        ]
        if not candidates:
            continue
        match = min(candidates, key=lambda tr: abs(tr.median_kmh - vehicle.speed_kmh))
        used.add(match.transit_id)
        found += 1
        peak_errors.append(abs(match.peak_kmh - vehicle.speed_kmh))
        median_errors.append(abs(match.median_kmh - vehicle.speed_kmh))
    extra = len(transits) - found
    return [
        label,
        f"{found}/{len(stream.vehicles)}",
        str(extra),
        f"{percentile(median_errors, 50):.2f}",
        f"{percentile(median_errors, 95):.2f}",
        f"{percentile(peak_errors, 50):.2f}",
        f"{percentile(peak_errors, 95):.2f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the lines, timed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200 vehicles, one pass")
    args = parser.parse_args(argv)
    if args.quick:
        args.vehicles, args.repeat = 200, 1
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    radar = RadarConfig(sample_rate_hz=20000, mounting_angle_deg=ANGLE_DEG)

    separated = emulated_stream(args.vehicles, seed=args.seed, noise_kmh=0.2, headway_s=1.5)
    print(f"Radar throughput on one core ({len(separated.lines):,} emulator lines x {args.repeat})")
    print(
        table(["", "lines/s", "x baseline", "us/line"], throughput(separated, radar, args.repeat))
    )
    print()
    rows = [accuracy(separated, radar, "separated (headway 1.5 s)")]
    dense = emulated_stream(args.vehicles, seed=args.seed, noise_kmh=0.2, headway_s=0.0)
    rows.append(accuracy(dense, radar, "dense (vehicles may share the beam)"))
    multi = emulated_stream(args.vehicles, seed=args.seed, noise_kmh=0.2, headway_s=0.0, reports=3)
    rows.append(accuracy(multi, radar, "dense, 3 targets per frame (O3)"))
    print(
        f"Per-transit speed error, km/h ({args.vehicles} vehicles, 20 kHz, resolution "
        f"{radar.resolution_kmh:.2f} km/h, angle {ANGLE_DEG:g} deg, noise 0.2 km/h)"
    )
    print(
        table(
            ["traffic", "found", "extra", "median p50", "median p95", "peak p50", "peak p95"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
