"""The benchmark suite: every benchmark in a child process of its own, then ONE Markdown table.

``python -m bench [--quick] [--write-doc docs/performance.md]`` (``make bench``). Each child
(``python -m bench.<name> --json FILE``) prints its own detailed table, passed on to stderr; the
figures it writes are gathered into one table of the figure, this run's value, the baseline
measured in the same run and their ratio. ``--write-doc`` puts the table, with the machine it ran
on, between the markers ``BEGIN``/``END`` in the given Markdown file.

The fleet row comes from ``bench.fleet.fleet_throughput(quick=...)`` when that module exists
(another part of the project); without it the row says "not measured".
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.sim_pole import ROOT

BEGIN = "<!-- bench:begin (written by `make bench`; edit bench/suite.py, not this table) -->"
END = "<!-- bench:end -->"
CHILDREN = ("latency", "resources", "model_inference", "telemetry_throughput", "traffic_scaling")
Figures = Mapping[str, Any]
Row = list[str]


def run_child(module: str, quick: bool, out: Path, *extra: str) -> Figures | str:
    """``python -m <module> [--quick] --json out``: its figures, or why there are none."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    flags = [*(["--quick"] if quick else []), *extra, "--json", str(out)]
    command = [sys.executable, "-m", module, *flags]
    print(f"== {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, stdout=sys.stderr, check=False
    )
    print(f"== {module}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if done.returncode != 0 or not out.exists():
        return f"failed (status {done.returncode}; see the log above)"
    figures: Figures = json.loads(out.read_text(encoding="utf-8"))
    return figures


FLEET_POLES = 1000
FLEET_SECONDS = (60.0, 20.0)
"""Real seconds of fleet traffic: full run, --quick."""


def fleet_child(quick: bool, out: Path) -> int:
    """In the child: ``bench.fleet.fleet_throughput`` (another part of the project) for
    ``FLEET_POLES`` poles, its figures saved; "not_measured" when that module is not there."""
    try:
        from bench.fleet import fleet_throughput
    except ImportError as err:
        out.write_text(json.dumps({"not_measured": str(err)}), encoding="utf-8")
        return 0
    result = fleet_throughput(FLEET_POLES, FLEET_SECONDS[quick])
    out.write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")
    return 0


def latency_with_brokers(base: Figures | str, quick: bool, tmp: Path) -> Figures | str:
    """bench.latency again with a broker up and with one down, beside the run without."""
    if isinstance(base, str):
        return f"not run: no run without a broker ({base})"
    got: dict[str, Figures] = {"none": base}
    for broker in ("up", "down"):
        out = tmp / f"latency-{broker}.json"
        figures = run_child("bench.latency", quick, out, "--broker", broker)
        if isinstance(figures, str):
            return f"broker {broker}: {figures}"
        got[broker] = figures
    return got


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def latency_rows(f: Figures) -> list[Row]:
    rows = f["rows"]
    agent, floor = rows["agent"], rows["floor"]
    how = (
        f"n={agent['n']} each, interleaved; floor = pty + pyserial + json + mock pin; "
        "target: agent within 2x of the floor"
    )
    return [
        [
            f"Warning latency {q}, radar line -> beacon pin",
            f"{agent[q]:.3f} ms",
            f"floor {floor[q]:.3f} ms",
            ratio(agent[q], floor[q]),
            how if q == "p50" else f"x{f['factor']:g} clock",
        ]
        for q in ("p50", "p99")
    ]


def latency_broker_rows(f: Figures) -> list[Row]:
    """The agent with a broker up and with one down, each against the agent without a broker;
    three runs of bench.latency, one process each (each run's own floor in the last column)."""
    base = f["none"]["rows"]
    rows: list[Row] = []
    for broker in ("up", "down"):
        mine = f[broker]["rows"]
        for q in ("p50", "p99"):
            own = mine["agent"][q] / mine["floor"][q]
            rows.append(
                [
                    f"Warning latency {q}, broker {broker}",
                    f"{mine['agent'][q]:.3f} ms",
                    f"no broker {base['agent'][q]:.3f} ms",
                    ratio(mine["agent"][q], base["agent"][q]),
                    f"a run of its own (n={mine['agent']['n']}); its agent/floor {own:.2f}x, "
                    f"without broker {base['agent'][q] / base['floor'][q]:.2f}x"
                    + ("; reliability row 1" if broker == "down" else "; real Mosquitto"),
                ]
            )
    return rows


def resources_rows(f: Figures) -> list[Row]:
    vph, factor = f["vehicles_per_hour"], f["factor"]
    note = (
        f"{f['sim_minutes']:g} sim min at x{factor:g}: {f['vehicles']} vehicles, "
        f"{f['transits']} transits, {f['warnings']} warnings; real Mosquitto"
    )
    pole = f["idle_x1_cpu_per_real_h"] + f["traffic_cpu_per_sim_h"]
    return [
        [
            f"CPU per simulated hour at the rush ({vph:,.0f} vehicles/h)",
            f"{f['busy_cpu_per_sim_h']:.1f} CPU s",
            f"idle agent, same real time: {f['idle_share_cpu_per_sim_h']:.1f} CPU s",
            ratio(f["busy_cpu_per_sim_h"], f["idle_share_cpu_per_sim_h"]),
            note,
        ],
        [
            "CPU per hour of a pole at x1, estimated",
            f"{pole:.1f} CPU s ({pole / 36:.2f}% of a core)",
            f"idle x1: {f['idle_x1_cpu_per_real_h']:.1f} CPU s",
            ratio(pole, f["idle_x1_cpu_per_real_h"]),
            "idle x1 per real hour + the rush's traffic cost per simulated hour",
        ],
        [
            "Peak memory (RSS) at the rush",
            f"{f['busy_peak_rss_mb']:.1f} MB",
            f"idle agent {f['idle_peak_rss_mb']:.1f} MB",
            ratio(f["busy_peak_rss_mb"], f["idle_peak_rss_mb"]),
            "process high-water mark (VmHWM) of the agent's process",
        ],
    ]


def model_rows(f: Figures) -> list[Row]:
    return [
        [
            f"Kerb model inference {q}",
            f"{f['predict_' + q]:.3f} ms",
            f"runtime invoke only {f['invoke_' + q]:.3f} ms",
            ratio(f["predict_" + q], f["invoke_" + q]),
            f"RadarModel.predict (quantise, invoke, dequantise), n={f['predict_n']}, "
            f"{f['model']} {f['size_bytes'] / 1024:.0f} KiB, one thread"
            if q == "p50"
            else "",
        ]
        for q in ("p50", "p99")
    ]


def telemetry_rows(f: Figures) -> list[Row]:
    paho = f"paho straight {f['paho_rate']:,.0f}/s"
    n = f"{f['events']:,} events of ~{f['size_bytes']} B"
    return [
        [
            "Spool write throughput (committed to SQLite)",
            f"{f['spool_write_rate']:,.0f} msg/s",
            f"one transaction per message {f['naive_write_rate']:,.0f}/s",
            ratio(f["spool_write_rate"], f["naive_write_rate"]),
            f"{n}; caller waits p99 {f['spool_put_us_p99']:.1f} us (spool put) vs "
            f"{f['naive_write_us_p99']:.0f} us (baseline write)",
        ],
        [
            "Telemetry live: reporter -> spool -> broker, acked",
            f"{f['live_rate']:,.0f} msg/s",
            paho,
            ratio(f["live_rate"], f["paho_rate"]),
            f"{n}, QoS 1, Mosquitto on loopback",
        ],
        [
            "Spool replay rate after an outage",
            f"{f['replay_rate']:,.0f} msg/s",
            paho,
            ratio(f["replay_rate"], f["paho_rate"]),
            "from the reconnect to the spool empty",
        ],
    ]


def fleet_rows(f: Figures) -> list[Row]:
    if "not_measured" in f:
        why = f"bench.fleet: {f['not_measured']}"
        return [["Fleet throughput", "not measured", "-", "-", why]]
    shown = ("poles", "delivered_msg_s", "offered_msg_s")
    notes = "; ".join(
        f"{key} {value:,.1f}" if isinstance(value, float) else f"{key} {value}"
        for key, value in f.items()
        if key not in shown
    )
    return [
        [
            f"Fleet throughput: {f['poles']:,} poles -> one Mosquitto -> reference consumer",
            f"{f['delivered_msg_s']:,.0f} msg/s stored",
            f"offered {f['offered_msg_s']:,.0f} msg/s",
            ratio(f["delivered_msg_s"], f["offered_msg_s"]),
            f"bench.fleet.fleet_throughput: {notes}",
        ]
    ]


def scaling_rows(f: Figures) -> list[Row]:
    """CPU per simulated hour at each traffic level beside the idle agent over the same real
    time. The traffic's own share per 1,000 transits goes in the notes; where it is under a tenth
    of the phase's CPU it is within the noise of the idle figure and is said to be."""
    rows = []
    for name, p in sorted(f["phases"].items(), key=lambda item: item[1]["vehicles_per_hour"]):
        idle_per_sim_h = p["cpu_per_sim_h"] * (p["cpu_s"] - p["traffic_cpu_s"]) / p["cpu_s"]
        share = f"{p['traffic_cpu_per_1000_transits']:.2f} CPU s per 1k transits"
        if p["traffic_cpu_s"] < 0.1 * p["cpu_s"]:
            share = "within the idle agent's noise"
        rows.append(
            [
                f"CPU at {name} traffic ({p['vehicles_per_hour']:,.0f} vehicles/h)",
                f"{p['cpu_per_sim_h']:.2f} CPU s / sim h",
                f"idle agent, same real time: {idle_per_sim_h:.2f}",
                ratio(p["cpu_per_sim_h"], idle_per_sim_h),
                f"{p['vehicles']} vehicles, {p['transits']} transits; traffic's own cost: {share}",
            ]
        )
    return rows


RENDER: dict[str, Callable[[Figures], list[Row]]] = {
    "latency": latency_rows,
    "latency_brokers": latency_broker_rows,
    "resources": resources_rows,
    "model_inference": model_rows,
    "telemetry_throughput": telemetry_rows,
    "fleet": fleet_rows,
    "traffic_scaling": scaling_rows,
}


def markdown(headers: list[str], rows: list[Row]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def build_table(results: dict[str, Figures | str], quick: bool, elapsed_s: float) -> str:
    rows: list[Row] = []
    for name, render in RENDER.items():
        got = results.get(name, "not run")
        if isinstance(got, str):
            rows.append([name, got, "-", "-", ""])
            continue
        try:
            rows += render(got)
        except (KeyError, TypeError, ValueError) as err:
            rows.append([name, f"unreadable figures ({err!r})", "-", "-", ""])
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Run {when}{' (--quick)' if quick else ''} in {elapsed_s / 60:.1f} min on {machine()}."
    )
    table = markdown(["figure", "this run", "baseline (same run)", "ratio", "how"], rows)
    return f"{header}\n\n{table}"


def write_doc(path: Path, text: str, begin: str = BEGIN, end: str = END) -> None:
    """Put ``text`` between the markers of ``path`` (appended with markers if it has none)."""
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        doc = head + block + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs of every benchmark")
    parser.add_argument("--write-doc", type=Path, help="write the table into this Markdown file")
    parser.add_argument("--fleet-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fleet_child:
        return fleet_child(args.quick, args.json)
    started = time.monotonic()
    results: dict[str, Figures | str] = {}
    with tempfile.TemporaryDirectory(prefix="pole-bench-suite-") as tmp:
        for name in CHILDREN:
            results[name] = run_child(f"bench.{name}", args.quick, Path(tmp) / f"{name}.json")
        results["latency_brokers"] = latency_with_brokers(results["latency"], args.quick, Path(tmp))
        fleet_json = Path(tmp) / "fleet.json"
        results["fleet"] = run_child("bench.suite", args.quick, fleet_json, "--fleet-child")
    text = build_table(results, args.quick, time.monotonic() - started)
    print(text)
    if args.write_doc is not None:
        write_doc(args.write_doc, text)
        print(f"written into {args.write_doc}", file=sys.stderr)
    failed = [name for name, got in results.items() if isinstance(got, str)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
