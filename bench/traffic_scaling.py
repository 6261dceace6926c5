"""CPU at 1x, 4x and 16x traffic: the agent's cost must grow with traffic, not with time.

Four phases, each a freshly built agent run by ``bench.resources.run_phase`` (real Mosquitto,
mock pins, the emulator in a child process) at the same clock factor: ``idle`` (no traffic, the
baseline: what the agent costs per real second doing nothing), then the same simulated duration
at 1x, 4x and 16x ``BASE_VEHICLES_PER_HOUR``. For each: CPU seconds per simulated hour, the
traffic's share (CPU minus the idle agent's over the same real time) and that share per 1,000
transits. Flat per-1,000-transit figures mean the cost follows the traffic; the idle share is
what the clock alone costs.

Run: ``python -m bench.traffic_scaling [--quick] [--factor 60] [--sim-minutes 60]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.report import paragraph, save_figures, table
from bench.resources import Phase, run_phase
from bench.sim_pole import BenchError, daemon_logging
from simulator.broker import BrokerStartError, BrokerUnavailable, MosquittoBroker

BASE_VEHICLES_PER_HOUR = 100.0
"""1x: a quiet school street; 16x is 1,600 vehicles an hour, past the rush benchmark's 1,500."""
MULTIPLES = (1, 4, 16)
DEFAULT_FACTOR = 60.0
DEFAULT_SIM_MINUTES = 60.0
QUICK_SIM_MINUTES = 10.0
IDLE_REAL_S = 5.0


def run(*, factor: float, sim_minutes: float) -> tuple[Phase, list[tuple[int, Phase]]]:
    try:
        broker = MosquittoBroker()
        broker.start()
    except (BrokerUnavailable, BrokerStartError) as err:
        raise BenchError(f"no broker: {err}") from err
    busy: list[tuple[int, Phase]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pole-bench-scale-") as tmp, daemon_logging():
            work = Path(tmp)
            print("  traffic scaling: idle ...", file=sys.stderr, flush=True)
            idle = run_phase(
                "idle", work, broker, factor=factor, sim_s=0.0, idle_real_s=IDLE_REAL_S
            )
            for multiple in MULTIPLES:
                print(f"  traffic scaling: {multiple}x ...", file=sys.stderr, flush=True)
                phase = run_phase(
                    f"{multiple}x",
                    work,
                    broker,
                    factor=factor,
                    sim_s=sim_minutes * 60,
                    vehicles_per_hour=BASE_VEHICLES_PER_HOUR * multiple,
                )
                busy.append((multiple, phase))
    finally:
        broker.close()
    return idle, busy


def traffic_cpu_s(idle: Phase, phase: Phase) -> float:
    """The phase's CPU minus what the idle agent used over the same real time."""
    return phase.cpu_s - idle.cpu_per_real_s * phase.real_s


def figures(idle: Phase, busy: list[tuple[int, Phase]]) -> dict[str, object]:
    rows = {}
    for multiple, phase in busy:
        traffic = traffic_cpu_s(idle, phase)
        rows[f"{multiple}x"] = {
            "vehicles_per_hour": BASE_VEHICLES_PER_HOUR * multiple,
            "vehicles": phase.radar.get("vehicles", 0),
            "transits": phase.transits,
            "lines": phase.lines,
            "cpu_s": phase.cpu_s,
            "cpu_per_sim_h": phase.cpu_s / phase.sim_s * 3600,
            "traffic_cpu_s": traffic,
            "traffic_cpu_per_1000_transits": 1000 * traffic / max(1, phase.transits),
            "cpu_per_1000_transits": 1000 * phase.cpu_s / max(1, phase.transits),
        }
    return {"idle_cpu_per_real_s": idle.cpu_per_real_s, "phases": rows}


def render(idle: Phase, busy: list[tuple[int, Phase]], factor: float, sim_minutes: float) -> str:
    headers = ["traffic", "vehicles/h", "vehicles", "transits", "lines", "CPU s",
               "CPU s/sim h", "traffic CPU s", "traffic CPU s/1k transits",
               "CPU s/1k transits"]  # fmt: skip
    rows = []
    for multiple, phase in busy:
        traffic = traffic_cpu_s(idle, phase)
        transits = max(1, phase.transits)
        rows.append(
            [
                f"{multiple}x",
                f"{BASE_VEHICLES_PER_HOUR * multiple:,.0f}",
                str(phase.radar.get("vehicles", "?")),
                str(phase.transits),
                str(phase.lines),
                f"{phase.cpu_s:.2f}",
                f"{phase.cpu_s / phase.sim_s * 3600:.2f}",
                f"{traffic:.2f}",
                f"{1000 * traffic / transits:.2f}",
                f"{1000 * phase.cpu_s / transits:.2f}",
            ]
        )
    return "\n".join(
        [
            paragraph(
                f"CPU at 1x, 4x and 16x traffic: {sim_minutes:g} simulated minutes each at "
                f"x{factor:g}, the agent with a real Mosquitto; idle baseline "
                f"{100 * idle.cpu_per_real_s:.2f}% of a core ({idle.cpu_s:.3f} CPU s over "
                f"{idle.real_s:.1f} s)"
            ),
            "",
            table(headers, rows),
            "",
            paragraph(
                "traffic CPU s = the phase's CPU minus the idle agent's CPU over the same real "
                "time. Vehicles that overlap in the beam in the same direction can make one "
                "transit (a single-target radar), so at 16x transits grow less than vehicles."
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.traffic_scaling", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SIM_MINUTES:g} simulated minutes a phase"
    )
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR, help="clock factor")
    parser.add_argument("--sim-minutes", type=float, help=f"default {DEFAULT_SIM_MINUTES:g}")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    minutes = args.sim_minutes or (QUICK_SIM_MINUTES if args.quick else DEFAULT_SIM_MINUTES)
    try:
        idle, busy = run(factor=args.factor, sim_minutes=minutes)
    except BenchError as err:
        print(f"bench.traffic_scaling: {err}", file=sys.stderr)
        return 1
    print(render(idle, busy, args.factor, minutes))
    save_figures(args.json, figures(idle, busy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
