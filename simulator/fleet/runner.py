"""Many pole models against one broker on one event loop.

``run_fleet`` connects the poles (a bounded number at a time, so the broker's listen backlog is
never flooded), and once every pole is online starts all their timelines together on one shared
``ScaledClock``. Each pole is a task that sleeps until its next action; the whole fleet has one
keepalive task. At the end each pole stops cleanly as the agent does (its open stats window,
then ``stopped``), the fleet waits until the broker has acknowledged every message, and
disconnects. ``stop`` cuts the run short the same way (SIGTERM in ``python -m simulator.fleet``).

Every counted message (every stream but status) is stamped with ``time.time()`` as it is handed
to its connection: ``FleetRun.stamps`` maps ``(topic, seq)`` to that instant, so that a consumer's
store can be joined to it for the end-to-end delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pole_agent.clock import ScaledClock
from pole_agent.telemetry import topics
from simulator.fleet.loop_client import FleetConnectError, LoopClient, keep_alive
from simulator.fleet.pole_model import PoleModel, PoleTraffic

log = logging.getLogger(__name__)

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class FleetOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    poles: int = 1000
    duration_s: float = 60.0
    """Simulated seconds of traffic (real seconds times ``speed``)."""
    traffic: PoleTraffic = field(default_factory=PoleTraffic)
    speed: float = 1.0
    """Simulated seconds per real second (1: real time, the rate a broker really sees)."""
    seed: int = 1
    id_prefix: str = "fleet"
    keepalive_s: int = 30
    connect_concurrency: int = 50
    connect_timeout_s: float = 30.0
    drain_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.poles <= 100_000:
            raise ValueError(f"poles must be 1..100000, got {self.poles}")
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if not 1 <= self.connect_concurrency <= 1000:
            raise ValueError("connect_concurrency must be 1..1000")
        if topics.parse(topics.status(self.pole_id(self.poles - 1))) is None:
            raise ValueError(
                f"id_prefix {self.id_prefix!r} makes invalid pole ids (lower-case letters, "
                "digits and '-', at most 64 in all)"
            )

    def pole_id(self, index: int) -> str:
        return f"{self.id_prefix}-{index:05d}"


@dataclass
class FleetRun:
    """What a run did, from the fleet's side."""

    poles: int
    connected: int = 0
    connect_s: float = 0.0
    run_s: float = 0.0
    """Real seconds of the traffic phase (all poles online)."""
    cpu_s: float = 0.0
    """This process's CPU seconds in the traffic phase."""
    published: int = 0
    """Counted messages (every stream but status) handed to the connections."""
    sent: int = 0
    """Every message, births, discovery and stopped included."""
    acked: int = 0
    lost_connections: int = 0
    stamps: dict[tuple[str, int], float] = field(default_factory=dict)
    lateness_s: list[float] = field(default_factory=list)
    """How late each action ran after its due time: the fleet loop's own lag. A message stamped
    early in a burst waits about this long in the fleet process before it is written."""

    def summary(self) -> dict[str, Any]:
        late = sorted(self.lateness_s)
        lag = {
            f"lag_{name}_ms": round(1000 * late[min(len(late) - 1, int(q * len(late)))], 3)
            for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
        }
        skip = ("stamps", "lateness_s")
        return {k: v for k, v in vars(self).items() if k not in skip} | (lag if late else {})


async def run_fleet(
    options: FleetOptions,
    *,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
) -> FleetRun:
    """Run the fleet; raises ``FleetConnectError`` if a pole cannot connect."""
    stop = stop or asyncio.Event()
    report = progress or (lambda event, data: None)
    run = FleetRun(poles=options.poles)

    def stamp(topic: str, seq: int) -> None:
        run.stamps[(topic, seq)] = time.time()

    clock = ScaledClock(options.speed)
    models = [
        PoleModel(
            options.pole_id(index),
            clock=clock,
            traffic=options.traffic,
            seed=options.seed * 100_003 + index,
            duration_s=options.duration_s,
            stamp=stamp,
            keepalive_s=options.keepalive_s,
        )
        for index in range(options.poles)
    ]
    clients = [model.client for model in models]
    ticking = asyncio.Event()
    keeper = asyncio.create_task(keep_alive(clients, ticking))
    try:
        started = time.monotonic()
        await _connect_all(models, options)
        run.connected = len(models)
        run.connect_s = time.monotonic() - started
        report(
            "connected",
            {"poles": run.connected, "connect_s": round(run.connect_s, 3), "at": time.time()},
        )
        cpu0, real0 = time.process_time(), time.monotonic()
        origin = clock.monotonic()
        loop_t0 = asyncio.get_running_loop().time()
        drivers = [
            asyncio.create_task(_drive(model, origin, loop_t0, options.speed, run.lateness_s))
            for model in models
        ]
        waiting = asyncio.create_task(stop.wait())
        everything: asyncio.Future[list[None]] = asyncio.gather(*drivers)
        either: list[asyncio.Future[Any]] = [waiting, everything]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        everything.cancel()
        if everything.done() and not everything.cancelled() and everything.exception():
            raise RuntimeError("a pole model failed") from everything.exception()
        run.run_s = time.monotonic() - real0
        run.cpu_s = time.process_time() - cpu0
        run.published = len(run.stamps)
        report(
            "traffic_over",
            {"run_s": round(run.run_s, 3), "published": run.published, "at": time.time()},
        )
        for model in models:
            model.stop("fleet run over")
        await _drain(clients, options.drain_timeout_s)
        report("drained", {"unacked": sum(c.unacked for c in clients)})
        for client in clients:
            client.disconnect()
        await asyncio.sleep(0.2)  # let the DISCONNECTs go out
    finally:
        ticking.set()
        await keeper
        run.sent = sum(c.sent for c in clients)
        run.acked = sum(c.acked for c in clients)
        run.lost_connections = sum(c.lost for c in clients)
        for client in clients:
            client.abort()
    return run


async def _connect_all(models: list[PoleModel], options: FleetOptions) -> None:
    gate = asyncio.Semaphore(options.connect_concurrency)

    async def connect(model: PoleModel) -> None:
        async with gate:
            await model.client.connect(options.host, options.port, options.connect_timeout_s)
            model.birth()

    results = await asyncio.gather(*(connect(m) for m in models), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for model in models:
            model.client.abort()
        first = failures[0]
        raise FleetConnectError(
            f"{len(failures)} of {len(models)} poles could not connect; first: {first}"
        ) from first


async def _drive(
    model: PoleModel, origin: float, loop_t0: float, speed: float, lateness: list[float]
) -> None:
    loop = asyncio.get_running_loop()
    for due, act in model.actions(origin):
        target = loop_t0 + due / speed
        if target > loop.time():
            await asyncio.sleep(target - loop.time())
        lateness.append(loop.time() - target)
        act()


async def _drain(clients: list[LoopClient], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(c.unacked and not c.lost for c in clients):
        await asyncio.sleep(0.05)


def write_stamps(stamps: dict[tuple[str, int], float], path: Path) -> None:
    """``topic<TAB>seq<TAB>unix time`` per line (read back by ``read_stamps``)."""
    with path.open("w", encoding="utf-8") as out:
        for (topic, seq), at in stamps.items():
            out.write(f"{topic}\t{seq}\t{at:.6f}\n")


def read_stamps(path: Path) -> dict[tuple[str, int], float]:
    stamps: dict[tuple[str, int], float] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            topic, seq, at = line.rstrip("\n").split("\t")
            stamps[(topic, int(seq))] = float(at)
    return stamps
