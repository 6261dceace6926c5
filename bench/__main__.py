"""Run every benchmark and print their tables: ``python -m bench [--quick]``.

Each benchmark runs in a fresh child process (``python -m bench.latency``, then
``python -m bench.resources``), so that what one imports or leaves behind (the emulator's numpy,
threads, garbage) is not in the other's memory and CPU figures. Both tables are printed at the
end; progress goes to stderr as they run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from bench.sim_pole import ROOT

BENCHMARKS = (
    "latency",
    "resources",
    "radar_throughput",
    "warning_outputs_latency",
    "telemetry_throughput",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs of every benchmark")
    args = parser.parse_args(argv)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    tables: list[str] = []
    status = 0
    for name in BENCHMARKS:
        command = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
        done = subprocess.run(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
        )
        if done.returncode != 0:
            status = done.returncode
            tables.append(f"bench.{name} failed (status {done.returncode}); see stderr above")
        else:
            tables.append(done.stdout.rstrip("\n"))
    print("\n\n".join(tables))
    return status


if __name__ == "__main__":
    sys.exit(main())
