"""``python -m simulator.fleet``: many simulated poles against one broker, on one event loop.

Prints one JSON line when every pole is online (``connected``) and one at the end (``done``,
with what was published and acknowledged); SIGTERM or Ctrl-C ends the run early, cleanly (each
pole publishes ``stopped``). Killed with SIGKILL, every pole's Last Will fires. ``--stamps FILE``
writes when each counted message was handed to its connection (for ``bench/fleet.py``).
Exit status: 0 done, 1 a pole could not connect, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from simulator.fleet.loop_client import FleetConnectError
from simulator.fleet.pole_model import PoleTraffic
from simulator.fleet.runner import FleetOptions, run_fleet, write_stamps


def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    defaults = PoleTraffic()
    p = argparse.ArgumentParser(prog="python -m simulator.fleet", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="broker host")
    p.add_argument("--port", type=_positive(int), default=1883, help="broker port")
    p.add_argument("--poles", type=_positive(int), default=1000, help="pole models to run")
    p.add_argument(
        "--duration", type=_positive(float), default=60.0, help="simulated seconds of traffic"
    )
    p.add_argument(
        "--speed", type=_positive(float), default=1.0, help="simulated seconds per real second"
    )
    p.add_argument(
        "--vehicles-per-hour",
        type=_positive(float),
        default=defaults.vehicles_per_hour,
        help="traffic past each pole (default: the school-morning rush)",
    )
    p.add_argument(
        "--health-interval",
        type=_positive(float),
        default=defaults.health_interval_s,
        help="seconds between a pole's health reports",
    )
    p.add_argument(
        "--stats-interval",
        type=_positive(int),
        default=defaults.stats_interval_s,
        help="stats window (s), aligned to the wall clock",
    )
    p.add_argument("--no-discovery", action="store_true", help="no Home Assistant configs")
    p.add_argument("--keepalive", type=_positive(int), default=30, help="MQTT keepalive (s)")
    p.add_argument("--seed", type=int, default=1, help="traffic seed")
    p.add_argument("--id-prefix", default="fleet", help="pole ids are <prefix>-00000 ...")
    p.add_argument("--stamps", type=Path, default=None, help="write publish times here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        options = FleetOptions(
            host=args.host,
            port=args.port,
            poles=args.poles,
            duration_s=args.duration,
            speed=args.speed,
            seed=args.seed,
            id_prefix=args.id_prefix,
            keepalive_s=args.keepalive,
            traffic=PoleTraffic(
                vehicles_per_hour=args.vehicles_per_hour,
                health_interval_s=args.health_interval,
                stats_interval_s=args.stats_interval,
                discovery=not args.no_discovery,
            ),
        )
    except ValueError as err:
        print(f"python -m simulator.fleet: {err}", file=sys.stderr)
        return 2

    def progress(event: str, data: dict[str, Any]) -> None:
        print(json.dumps({"event": event, **data}), flush=True)

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            run = await run_fleet(options, stop=stop, progress=progress)
        except FleetConnectError as err:
            print(f"python -m simulator.fleet: {err}", file=sys.stderr)
            return 1
        if args.stamps is not None:
            write_stamps(run.stamps, args.stamps)
        progress("done", run.summary())
        return 0

    return asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
