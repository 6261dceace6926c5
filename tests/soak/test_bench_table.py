"""``make bench``'s one table: rows built from each benchmark's figures (a baseline and a ratio
beside each figure that has one), failures and a missing fleet bench said plainly, and the table
written into docs/performance.md between its markers without touching the rest."""

from __future__ import annotations

from pathlib import Path

from bench.suite import BEGIN, END, build_table, write_doc

LATENCY = {
    "factor": 100.0,
    "order": "interleaved",
    "rows": {
        "floor": {"n": 290, "p50": 0.08, "p99": 0.2},
        "floor readline()": {"n": 290, "p50": 0.2, "p99": 0.4},
        "agent": {"n": 290, "p50": 0.12, "p99": 0.3},
    },
}
SCALING = {
    "idle_cpu_per_real_s": 0.01,
    "phases": {
        name: {
            "vehicles_per_hour": vph,
            "vehicles": n,
            "transits": n,
            "lines": 100,
            "cpu_s": 1.0,
            "cpu_per_sim_h": 1.0,
            "traffic_cpu_s": traffic,
            "cpu_per_1000_transits": 10.0,
            "traffic_cpu_per_1000_transits": per_1k,
        }
        for name, vph, n, traffic, per_1k in (
            ("16x", 1600, 160, 0.5, 3.1),
            ("1x", 100, 10, 0.05, 5.0),
        )
    },
}


def test_each_figure_stands_beside_its_baseline_and_their_ratio() -> None:
    text = build_table({"latency": LATENCY, "traffic_scaling": SCALING}, False, 600.0)
    lines = text.splitlines()
    assert lines[0].startswith("Run ") and "cores" in lines[0] and "Python" in lines[0]
    assert lines[2] == "| figure | this run | baseline (same run) | ratio | how |"
    p50 = next(line for line in lines if "latency p50" in line).split(" | ")
    assert p50[1:4] == ["0.120 ms", "floor 0.080 ms", "1.50x"]
    scaling = [line for line in lines if line.startswith("| CPU at ")]
    assert [line.split(" | ")[0] for line in scaling] == [
        "| CPU at 1x traffic (100 vehicles/h)",
        "| CPU at 16x traffic (1,600 vehicles/h)",
    ]
    # Each level beside the idle agent over the same real time; a traffic share under a tenth
    # of the phase's CPU is said to be noise rather than printed as a figure.
    assert scaling[1].split(" | ")[1:4] == [
        "1.00 CPU s / sim h",
        "idle agent, same real time: 0.50",
        "2.00x",
    ]
    assert "3.10 CPU s per 1k transits" in scaling[1]
    assert "within the idle agent's noise" in scaling[0]


def test_the_broker_runs_stand_beside_the_run_without_a_broker() -> None:
    """Reliability row 1: the warning latency with the broker down (and up), each measured in
    a run of its own, beside the run without a broker, with each run's own floor ratio."""

    def run(agent_p50: float, floor_p50: float) -> dict[str, object]:
        rows = {
            "agent": {"n": 290, "p50": agent_p50, "p99": 0.3},
            "floor": {"n": 290, "p50": floor_p50, "p99": 0.2},
        }
        return {**LATENCY, "rows": rows}

    brokers = {"none": run(0.12, 0.08), "up": run(0.18, 0.09), "down": run(0.13, 0.1)}
    text = build_table({"latency": LATENCY, "latency_brokers": brokers}, False, 60.0)
    down = next(line for line in text.splitlines() if "p50, broker down" in line).split(" | ")
    assert down[1:4] == ["0.130 ms", "no broker 0.120 ms", "1.08x"]
    assert "its agent/floor 1.30x, without broker 1.50x" in down[4]
    assert "| latency_brokers | broker up: failed" in build_table(
        {"latency_brokers": "broker up: failed (status 1)"}, False, 60.0
    )


def test_a_failed_benchmark_and_a_missing_fleet_bench_are_said_not_hidden() -> None:
    text = build_table(
        {
            "resources": "failed (status 1; see the log above)",
            "fleet": {"not_measured": "No module named 'bench.fleet'"},
        },
        True,
        60.0,
    )
    assert "| resources | failed (status 1; see the log above) |" in text
    assert "| Fleet throughput | not measured | - | - | bench.fleet: No module named" in text
    assert "| model_inference | not run |" in text
    assert "(--quick)" in text


def test_the_table_goes_between_the_markers_and_nothing_else_changes(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## History\nkept\n")
    write_doc(doc, "new table")
    write_doc(doc, "newer table")
    assert doc.read_text() == (
        f"# Performance\n\nintro\n\n{BEGIN}\nnewer table\n{END}\n\n## History\nkept\n"
    )
    bare = tmp_path / "bare.md"
    bare.write_text("# Notes\n")
    write_doc(bare, "table")
    assert bare.read_text() == f"# Notes\n\n{BEGIN}\ntable\n{END}\n"
