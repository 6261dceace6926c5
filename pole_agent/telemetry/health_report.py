"""What the health report says: every component from the health board (a radar's with its
clutter count), the host's gauges (CPU temperature, load, memory, the state disk), the spool and
the broker link.

The host is read through /proc and /sys (roots passed in, so tests can hand a fake tree); a gauge
that cannot be read is reported as null, never as an error.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pole_agent.clock import wall_at
from pole_agent.health import HealthBoard
from pole_agent.ports import Clock
from pole_agent.telemetry.report_messages import (
    ComponentReport,
    DiskReport,
    DropRange,
    LinkReport,
    LoadReport,
    MemoryReport,
    RemoteReport,
    SpoolReport,
)
from pole_agent.telemetry.spool import SpoolStats

log = logging.getLogger(__name__)

_CPU_ZONE_HINTS = ("cpu", "x86_pkg", "soc", "core")


def cpu_temperature_c(thermal_root: Path = Path("/sys/class/thermal")) -> float | None:
    """The CPU's temperature from the kernel's thermal zones (the one whose type names the CPU,
    else the first readable); None where there is none (many VMs)."""
    try:
        zones = sorted(thermal_root.glob("thermal_zone*"))
    except OSError:
        return None
    readings: list[tuple[bool, float]] = []
    for zone in zones:
        try:
            kind = (zone / "type").read_text(encoding="ascii", errors="replace").strip().lower()
            millideg = int((zone / "temp").read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        readings.append((any(hint in kind for hint in _CPU_ZONE_HINTS), millideg / 1000.0))
    if not readings:
        return None
    cpu = [value for is_cpu, value in readings if is_cpu]
    return round((cpu or [readings[0][1]])[0], 1)


def load_averages() -> LoadReport | None:
    try:
        m1, m5, m15 = os.getloadavg()
    except OSError:
        return None
    return LoadReport(m1=round(m1, 2), m5=round(m5, 2), m15=round(m15, 2))


def _meminfo_mb(text: str, key: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return round(int(parts[1]) / 1024, 1)
    return None


def memory(proc_root: Path = Path("/proc")) -> MemoryReport | None:
    try:
        meminfo = (proc_root / "meminfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    try:
        status = (proc_root / "self" / "status").read_text(encoding="ascii", errors="replace")
    except OSError:
        status = ""
    return MemoryReport(
        total_mb=_meminfo_mb(meminfo, "MemTotal"),
        available_mb=_meminfo_mb(meminfo, "MemAvailable"),
        agent_rss_mb=_meminfo_mb(status, "VmRSS"),
    )


def disk(path: Path) -> DiskReport | None:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    used_pct = 100.0 * (usage.total - usage.free) / usage.total if usage.total else 0.0
    return DiskReport(
        path=str(path),
        total_mb=round(usage.total / 2**20, 1),
        free_mb=round(usage.free / 2**20, 1),
        used_pct=round(used_pct, 1),
    )


def spool_report(stats: SpoolStats, now: float) -> SpoolReport:
    """``now`` is the wall clock in seconds since the epoch."""
    return SpoolReport(
        state="failed" if stats.state == "failed" else "ok",
        depth=stats.depth,
        bytes=stats.bytes,
        disk_bytes=stats.disk_bytes,
        max_bytes=stats.max_bytes,
        oldest_s=None if stats.oldest_created is None else round(now - stats.oldest_created, 1),
        dropped=dict(sorted(stats.dropped.items())),
        dropped_total=sum(stats.dropped.values()),
        dropped_safety=stats.dropped_safety,
        write_errors=stats.write_errors,
        drops=[
            DropRange(
                boot_id=d.boot_id,
                stream=d.stream,
                first_seq=d.first_seq,
                last_seq=d.last_seq,
                count=d.count,
                reason=d.reason,
                at=datetime.fromtimestamp(d.at, UTC),
            )
            for d in stats.drops
        ],
    )


class HealthCollector:
    """Gathers the fields of one health report (``Reporter.health(**collector.collect())``)."""

    def __init__(
        self,
        *,
        board: HealthBoard,
        clock: Clock,
        started_mono: float,
        state_dir: Path,
        spool_stats: Callable[[], SpoolStats],
        link: Callable[[], LinkReport],
        clock_trusted: Callable[[], bool | None] = lambda: None,
        remote: Callable[[], dict[str, Any]] | None = None,
        clutter_frames: Callable[[], dict[str, int]] | None = None,
        thermal_root: Path = Path("/sys/class/thermal"),
        proc_root: Path = Path("/proc"),
    ) -> None:
        """``clutter_frames``: each radar component's clutter count by name (``radar.road``:
        its pipeline's ``clutter_frames``), added to that component's report."""
        self._board = board
        self._clock = clock
        self._started_mono = started_mono
        self._state_dir = state_dir
        self._spool_stats = spool_stats
        self._link = link
        self._clock_trusted = clock_trusted
        self._remote = remote
        self._clutter_frames = clutter_frames
        self._thermal_root = thermal_root
        self._proc_root = proc_root

    def collect(self) -> dict[str, Any]:
        wall, mono = self._clock.wall(), self._clock.monotonic()
        clutter = self._clutter_frames() if self._clutter_frames is not None else {}
        components = {
            name: ComponentReport(
                state=item.state,
                reason=item.reason[:500],
                since=wall_at(wall, mono, item.since),
                clutter_frames=clutter.get(name),
            )
            for name, item in sorted(self._board.snapshot().items())
        }
        try:
            trusted = self._clock_trusted()
        except Exception:
            log.exception("clock trust check failed")
            trusted = None
        return {
            "overall": self._board.overall(),
            "components": components,
            "cpu_temp_c": cpu_temperature_c(self._thermal_root),
            "load": load_averages(),
            "memory": memory(self._proc_root),
            "disk": disk(self._state_dir),
            "spool": spool_report(self._spool_stats(), wall.timestamp()),
            "link": self._link(),
            "clock_trusted": trusted,
            "uptime_s": round(mono - self._started_mono, 1),
            "remote": None if self._remote is None else RemoteReport(**self._remote()),
        }
