"""Warning-output latency: from the confirming radar line, or from a detection, to each output.

Rows, all measured in the same run and interleaved round by round (so load from elsewhere on the
machine falls on all of them alike):

- ``floor``: bench/latency.py's floor rig (pty, pyserial, line split, ``json.loads``, one
  gpiozero mock pin): the least a Python warning path can cost;
- ``line -> beacon`` and ``line -> SLOW DOWN``: the real agent (``build_agent``, rev 2 board,
  the OPS243 emulator's pty) on a speeding vehicle's confirming line;
- ``line -> CHILD CROSSING`` and ``line -> speaker amp``: the same line while a child waits at
  the kerb (reported through the Detections port beforehand), so that the line both confirms
  the vehicle and makes the child warning;
- ``detection -> CHILD CROSSING`` and ``detection -> speaker amp``: a child reported on the
  Detections port while a vehicle approaches (the camera's or the kerb radar's path).

Each output pin stamps its change with ``perf_counter_ns`` (bench.sim_pole.TimedPin); the start
is stamped just before ``os.write`` of the line (the emulator's ``on_write``) or just before the
Detections call. The speaker amplifier is switched by the speaker thread: its row includes the
hand-off from the warning path to that thread. Run:
``python -m bench.warning_outputs_latency [--quick] [--rounds N] [--factor F]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from bench.latency import FloorRig
from bench.report import percentile, table
from bench.sim_pole import SIM_CONFIG, BenchError, TimedPin, daemon_logging, wait_until
from pole_agent.app import Agent, build_agent
from pole_agent.clock import ScaledClock
from pole_agent.config import AudioConfig, load_config
from pole_agent.ports import PedestrianSeen, VehicleApproaching
from simulator.ops243_emulator import Ops243Emulator
from simulator.world import World

BEACON, SLOW_DOWN, CHILD_CROSSING, AMP = 17, 5, 6, 24
REPORT_KMH = 45.0
WARMUP = 10
DEFAULT_ROUNDS = 200
QUICK_ROUNDS = 40
DEFAULT_FACTOR = 100.0
RADAR_FRAME_HZ = 10.0
PIN_TIMEOUT_S = 2.0


class WarningRig:
    """The real agent on the rev 2 board, its pins stamping their changes."""

    def __init__(self, work_dir: Path, factor: float) -> None:
        base = load_config(SIM_CONFIG)
        self.clock = ScaledClock(factor)
        (work_dir / "dev").mkdir(parents=True, exist_ok=True)
        self.emulator = Ops243Emulator(
            World(angle_deg=base.radars.road.mounting_angle_deg),
            self.clock,
            work_dir / "dev",
            frame_rate_hz=0.1,
            noise_kmh=0.0,
            seed=7,
            on_write=self._on_write,
        )
        radars = base.radars.model_copy(
            update={
                # The idle emulator reports every 10 simulated s (so that it costs little in the
                # process measured): the radar must not count as stale in between.
                "road": base.radars.road.model_copy(
                    update={"port": self.emulator.port, "stale_after_s": 60.0}
                )
            }
        )
        config = base.model_copy(
            update={
                "radars": radars,
                "outputs": base.outputs.model_copy(
                    update={"board": "spole-rpi4-v2", "pin_factory": "mock"}
                ),
                "audio": AudioConfig(player="record", amp_warmup_s=0.0),
                "state_dir": work_dir / "state",
                "mqtt": None,
            }
        )
        self.factory = MockFactory(pin_class=TimedPin)
        self.agent: Agent = build_agent(
            config, self.clock, pin_factory=self.factory, kernel_clock_sync=lambda: True
        )
        assert self.agent.warnings is not None
        self.port = self.agent.warnings.outputs
        self.pins: dict[int, TimedPin] = {
            g: self.factory.pin(g) for g in (BEACON, SLOW_DOWN, CHILD_CROSSING, AMP)
        }
        self._gap_s = 1.0 / RADAR_FRAME_HZ / factor
        self._last_write_ns = 0
        self._track = 0

    def _on_write(self, line: bytes, stamp_ns: int) -> None:
        self._last_write_ns = stamp_ns

    def start(self) -> None:
        self.emulator.start()
        self.agent.start()
        if not wait_until(lambda: self.agent.radar.stats.state == "reading", 10.0):
            raise BenchError(f"radar did not start reading: {self.agent.radar.stats}")

    def _marks(self) -> dict[int, int]:
        return {gpio: len(pin.changes) for gpio, pin in self.pins.items()}

    def _rise_ms(self, gpio: int, marks: dict[int, int], start_ns: int) -> float:
        pin = self.pins[gpio]
        if not wait_until(
            lambda: pin.first_high_since(marks[gpio]) is not None, PIN_TIMEOUT_S, 0.0005
        ):
            raise BenchError(f"GPIO {gpio} did not go high")
        high = pin.first_high_since(marks[gpio])
        assert high is not None
        return (high - start_ns) / 1e6

    def _idle(self) -> None:
        """Wait until every output is off again (holds, cool-down, playback)."""
        warnings = self.agent.warnings
        assert warnings is not None

        def quiet() -> bool:
            return not any(pin.state for pin in self.pins.values()) and not getattr(
                warnings.voice, "busy", False
            )

        if not wait_until(quiet, 20.0):
            raise BenchError("outputs did not go quiet between rounds")
        # The voice's cool-down (10 simulated s) must pass before the next child warning.
        self.clock.sleep(10.5)

    def vehicle_line(self, child: bool) -> dict[str, float]:
        """One speeding vehicle (two lines a frame apart); latencies of the confirming line."""
        if child:
            self._track += 1
            self.port.pedestrian(
                PedestrianSeen(
                    t=self.clock.monotonic(), kind="child", source="bench", track_id=self._track
                )
            )
        frames = self.agent.pipeline.frames
        if not self.emulator.write_report_now(REPORT_KMH):
            raise BenchError("the emulator is unplugged")
        time.sleep(self._gap_s)
        if not wait_until(lambda: self.agent.pipeline.frames > frames, 2.0, 0.0005):
            raise BenchError("the first line was never read")
        if child:  # keep the child fresh (a pedestrian report counts 1.5 simulated s)
            self.port.pedestrian(
                PedestrianSeen(
                    t=self.clock.monotonic(), kind="child", source="bench", track_id=self._track
                )
            )
        marks = self._marks()
        self.emulator.write_report_now(REPORT_KMH)
        start = self._last_write_ns
        out = {
            "line -> beacon": self._rise_ms(BEACON, marks, start),
            "line -> SLOW DOWN" if not child else "line -> CHILD CROSSING": self._rise_ms(
                CHILD_CROSSING if child else SLOW_DOWN, marks, start
            ),
        }
        if child:
            out["line -> speaker amp"] = self._rise_ms(AMP, marks, start)
        self._idle()
        return out

    def detection(self) -> dict[str, float]:
        """A vehicle approaching (Detections port), then a child at the kerb: its latencies."""
        self._track += 1
        now = self.clock.monotonic()
        self.port.vehicle(
            VehicleApproaching(
                t=now, speed_kmh=40.0, arrival_s=2.0, source="bench", track_id=self._track
            )
        )
        marks = self._marks()
        start = time.perf_counter_ns()
        self.port.pedestrian(
            PedestrianSeen(
                t=self.clock.monotonic(), kind="child", source="bench", track_id=self._track
            )
        )
        out = {
            "detection -> beacon": self._rise_ms(BEACON, marks, start),
            "detection -> CHILD CROSSING": self._rise_ms(CHILD_CROSSING, marks, start),
            "detection -> speaker amp": self._rise_ms(AMP, marks, start),
        }
        self._idle()
        return out

    def close(self) -> None:
        self.agent.stop("bench over")
        self.emulator.stop()
        self.factory.close()


@dataclass
class Result:
    rounds: int
    factor: float
    rows: dict[str, list[float]] = field(default_factory=dict)

    def render(self) -> str:
        floor = self.rows["floor"]
        headers = ["row", "n", "p50 ms", "p99 ms", "max ms", "/floor p50", "/floor p99"]
        lines = []
        for name, values in self.rows.items():
            ratios = (
                ["", ""]
                if name == "floor"
                else [f"{percentile(values, q) / percentile(floor, q):.2f}x" for q in (50, 99)]
            )
            cells = [f"{percentile(values, q):.3f}" for q in (50, 99, 100)]
            lines.append([name, str(len(values)), *cells, *ratios])
        return "\n".join(
            [
                "Warning outputs: latency from the confirming radar line (written to the pty) or "
                "the detection (Detections port call) to each output pin going high",
                f"{self.rounds} rounds interleaved, first {WARMUP} discarded; agent on ScaledClock "
                f"x{self.factor:g}, rev 2 board on mock pins, speaker recording; INFO logging to "
                "/dev/null",
                "",
                table(headers, lines),
                "",
                "floor = bench/latency.py's floor rig (pty + pyserial + json.loads + one gpiozero "
                "pin). The speaker amp is switched by the speaker thread after a queue hand-off.",
            ]
        )


def run(rounds: int, factor: float) -> Result:
    if rounds <= WARMUP:
        raise BenchError(f"need more than {WARMUP} rounds, got {rounds}")
    samples: dict[str, list[float]] = {"floor": []}
    with tempfile.TemporaryDirectory(prefix="pole-bench-warn-") as tmp, daemon_logging():
        floor = FloorRig(frame_gap_s=1.0 / RADAR_FRAME_HZ / factor)
        rig = WarningRig(Path(tmp), factor)
        try:
            rig.start()
            for done in range(rounds):
                samples["floor"].append(floor.sample())
                for part in (rig.vehicle_line(False), rig.vehicle_line(True), rig.detection()):
                    for name, value in part.items():
                        samples.setdefault(name, []).append(value)
                if (done + 1) % 20 == 0:
                    print(f"  warning outputs: {done + 1}/{rounds}", file=sys.stderr, flush=True)
        finally:
            floor.close()
            rig.close()
    return Result(rounds, factor, {k: v[WARMUP:] for k, v in samples.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.warning_outputs_latency", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds")
    parser.add_argument("--rounds", type=int, help=f"default {DEFAULT_ROUNDS}")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR, help="clock factor")
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    try:
        result = run(rounds, args.factor)
    except BenchError as err:
        print(f"bench.warning_outputs_latency: {err}", file=sys.stderr)
        return 1
    print(result.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
