"""Radar clutter reaches the operator: the whole agent on a simulated pole, fed one-frame spikes
that no vehicle's track confirms, counts them in the road radar's health component, in the stats
windows and in the status snapshot (which carries the spool as the health report's object)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pole_agent.installer.status import render
from pole_agent.status_socket import query, socket_path
from pole_agent.telemetry.report_messages import SpoolReport
from tests.integration.harness import make_pole
from tests.telemetry.rig import validate_captured

SPIKES = 6


def test_clutter_in_health_stats_and_status(tmp_path: Path) -> None:
    pole = make_pole(tmp_path, [], factor=10.0)  # no broker: everything waits in the spool
    agent = pole.agent
    pole.emulator.start()
    agent.start()
    try:
        deadline = time.monotonic() + 10
        while agent.radar.stats.state != "reading" and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(SPIKES):  # 2 simulated seconds apart: never consecutive sensor frames
            pole.emulator.inject_line(b"12.0\r\n")
            time.sleep(0.2)
        deadline = time.monotonic() + 20
        while agent.pipeline.clutter_frames < SPIKES and time.monotonic() < deadline:
            time.sleep(0.05)
        clutter = agent.pipeline.clutter_frames
        assert clutter >= SPIKES and agent.pipeline.transits_reported == 0

        assert agent.telemetry_timer is not None
        agent.telemetry_timer.publish_health()
        health = json.loads(agent.reporter.published[-1][1])
        road = health["components"]["radar.road"]
        assert road["state"] == "ok" and road["clutter_frames"] == clutter
        assert all(
            item["clutter_frames"] is None
            for name, item in health["components"].items()
            if name != "radar.road"
        )

        snap = query(socket_path(agent.config.state_dir))
        assert snap.snapshot_version == 3 and snap.clutter_frames == clutter
        assert isinstance(snap.spool, SpoolReport) and snap.older_spool is None
        assert snap.spool.depth >= 1 and snap.spool.disk_bytes > 0
        assert snap.spool.max_bytes == agent.config.telemetry.spool_max_bytes
        assert snap.spool.model_dump().keys() == health["spool"].keys()  # one model
        lines = render(snap)
        assert f"  frames {snap.frames} ({clutter} clutter)," in "\n".join(lines)
        (spool_line,) = [line for line in lines if line.startswith("spool:")]
        assert spool_line.startswith(f"spool:   {snap.spool.depth} waiting (ok), oldest ")
        assert f" on disk of {snap.spool.max_bytes / 2**20:.1f} MB" in spool_line
        assert "note:" not in "\n".join(lines)
    finally:
        agent.stop()
        pole.emulator.stop()
    published = agent.reporter.published
    stats = [json.loads(p) for t, p in published if t.endswith("/stats")]
    assert stats and sum(s["clutter_frames"] for s in stats) == agent.pipeline.clutter_frames
    assert sum(s["total"]["count"] for s in stats) == 0
    counts = validate_captured([(t, p, False) for t, p in published])
    assert counts["health"] >= 1 and counts["stats"] >= 1
