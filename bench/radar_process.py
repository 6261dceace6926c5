"""The OPS243 emulator and its world in a process of their own, so that a benchmark of the agent
does not count their CPU.

    python -m bench.radar_process --link-dir D --factor F --vehicles-per-hour N \
        --sim-seconds S --seed K [--wait-go]

Prints the port path on its first line once the emulator is up. Traffic (``generate_vehicles``
for S simulated seconds) starts at once, or with ``--wait-go`` when a line ``go`` arrives on
stdin. Then it prints JSON lines: ``{"event": "traffic", ...}`` when the traffic starts,
``{"event": "done", ...}`` once the last vehicle has left the beam, and ``{"event": "summary",
...}`` (lines written, its own CPU seconds) just before it exits. Without ``--wait-go`` it exits
when done; with it, it keeps the port open until stdin closes. SIGTERM ends it cleanly at any
time (the pty and its link are removed). ``RadarProcess`` is the benchmark's handle on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.sim_pole import ROOT, SIM_CONFIG, BenchError, road_radar

LEAD_S = 2.0
"""Simulated seconds between ``go`` and the first possible vehicle."""
TAIL_S = 1.0
"""Simulated seconds after the last vehicle leaves before ``done``."""


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def _watch_stdin(stop: threading.Event) -> None:
    """Stop when stdin closes (the benchmark went away or is finished)."""
    for _ in sys.stdin:
        pass
    stop.set()


def _witness_world(base: type[Any]) -> type[Any]:
    """``base`` (the simulator's World) that remembers which movers were ever in a frame: a
    vehicle that passes while this process is stalled (the emulator skips the frames it
    missed) never reaches the wire, and a soak must not count it against the agent."""

    class WitnessWorld(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.seen: set[int] = set()

        def targets_at(self, t: float) -> Any:
            targets = super().targets_at(t)
            self.seen.update(target.vehicle_id for target in targets)
            return targets

    return WitnessWorld


def run(args: argparse.Namespace) -> int:
    # Imported here, in the child only: the simulator pulls in numpy, which the agent does not
    # use; imported at the top it would sit in the benchmark's process and inflate its RSS.
    from pole_agent.clock import ScaledClock
    from pole_agent.config import load_config
    from simulator.ops243_emulator import Ops243Emulator
    from simulator.world import TrafficScenario, World, generate_vehicles

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    angle = args.angle_deg
    if angle is None:
        angle = road_radar(load_config(SIM_CONFIG)).mounting_angle_deg
    clock = ScaledClock(args.factor)
    world = _witness_world(World)(angle_deg=angle)
    emulator = Ops243Emulator(world, clock, args.link_dir, seed=args.seed)
    emulator.start()
    try:
        print(emulator.port, flush=True)
        if args.wait_go:
            line = sys.stdin.readline()
            if line.strip() != "go":
                return 0
            threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
        start = clock.monotonic() + LEAD_S
        if args.school_day is not None:
            from bench.school_day import SCHOOL_DAY, vehicles_for, window

            segments = window(SCHOOL_DAY, args.school_day, args.sim_seconds / 3600.0)
            vehicles = vehicles_for(
                segments, start_s=start, seed=args.seed, min_headway_s=args.min_headway_s
            )
        else:
            scenario = TrafficScenario(
                vehicles_per_hour=args.vehicles_per_hour,
                seed=args.seed,
                min_headway_s=args.min_headway_s,
            )
            vehicles = generate_vehicles(scenario, args.sim_seconds, start_s=start)
        for vehicle in vehicles:
            world.add(vehicle)
        end = max([start + args.sim_seconds, *(v.exit_s for v in vehicles)]) + TAIL_S
        _emit(
            event="traffic",
            vehicles=len(vehicles),
            sim_seconds=end - start + LEAD_S,
            # The real instant (CLOCK_MONOTONIC, shared by processes) of simulated 0, and each
            # vehicle's time in the beam from there: a soak matches transits to vehicles.
            start_real=time.monotonic() + (start - clock.monotonic()) / args.factor,
            beam_s=[(round(v.enter_s - start, 3), round(v.exit_s - start, 3)) for v in vehicles]
            if args.enter_times
            else [],
        )
        while not stop.is_set() and clock.monotonic() < end:
            stop.wait(min(0.2, max(0.0, (end - clock.monotonic()) / args.factor)))
        if clock.monotonic() >= end:
            seen = world.seen
            _emit(
                event="done",
                vehicles=len(vehicles),
                lines_written=emulator.lines_written,
                unseen=[v.vehicle_id for v in vehicles if v.vehicle_id not in seen],
            )
            if args.wait_go:
                stop.wait()
    finally:
        emulator.stop()
    cpu = time.process_time()
    _emit(
        event="summary",
        lines_written=emulator.lines_written,
        detected=emulator.detected_count,
        errors=emulator.errors,
        cpu_s=round(cpu, 3),
    )
    return 0


class RadarProcess:
    """``bench.radar_process`` as a child: spawned, told ``go``, read, and always ended."""

    def __init__(
        self,
        link_dir: Path,
        factor: float,
        vehicles_per_hour: float,
        sim_s: float,
        seed: int = 1,
        *,
        school_day: float | None = None,
        min_headway_s: float = 0.0,
    ) -> None:
        """``school_day``: the hour of the day to start ``bench.school_day``'s profile at
        (``vehicles_per_hour`` is then unused); the traffic event lists each vehicle's time in
        the beam."""
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        extra = ["--min-headway-s", str(min_headway_s)]
        if school_day is not None:
            extra += ["--school-day", str(school_day), "--enter-times"]
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.radar_process",
                "--link-dir",
                str(link_dir),
                "--factor",
                str(factor),
                "--vehicles-per-hour",
                str(vehicles_per_hour),
                "--sim-seconds",
                str(sim_s),
                "--seed",
                str(seed),
                "--wait-go",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = self._line()

    def _line(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise BenchError(f"radar process ended early (status {self._proc.wait()})")
        return line.strip()

    def event(self, name: str) -> dict[str, Any]:
        """Block (sleeping, not spinning) until the child prints the event ``name``."""
        while True:
            fields: dict[str, Any] = json.loads(self._line())
            if fields.get("event") == name:
                return fields

    def go(self) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()
        return self.event("traffic")

    def finish(self) -> dict[str, Any] | None:
        """Close its stdin so it stops; its summary, or None if it had to be killed."""
        summary = None
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        with contextlib.suppress(BenchError, ValueError, OSError):
            summary = self.event("summary")
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
            summary = None
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.radar_process", description=__doc__)
    parser.add_argument("--link-dir", required=True, help="directory for the pty's link")
    parser.add_argument("--factor", type=float, default=1.0, help="ScaledClock factor")
    parser.add_argument("--vehicles-per-hour", type=float, default=1500.0)
    parser.add_argument("--sim-seconds", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--angle-deg", type=float, help="default: deploy/config/simulator.toml")
    parser.add_argument("--wait-go", action="store_true", help="start traffic on 'go' (stdin)")
    parser.add_argument(
        "--school-day",
        type=float,
        metavar="START_H",
        help="traffic from bench.school_day's profile from this hour of the day (instead of "
        "--vehicles-per-hour) for --sim-seconds",
    )
    parser.add_argument(
        "--min-headway-s", type=float, default=0.0, help="least gap between vehicles in the beam"
    )
    parser.add_argument(
        "--enter-times", action="store_true", help="list each vehicle's time in the beam"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
