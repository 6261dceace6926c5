"""`pole-agent selftest`: every check that needs no person, for the daily timer and the
`selftest` remote command. Prints a table, writes ``<state_dir>/selftest-last.json`` (0600),
publishes the result retained on ``spole/<id>/selftest`` and exits 1 when a check failed.

With the agent running, the radar, outputs, models and clock are read from the agent through its
status socket (the agent holds the serial port and the pins; opening them twice would disturb
it). With the agent stopped, the tool opens the radar port itself (identity and a healthy start-up
through the real driver), claims the beacon and status-LED pins and loads the models.

The broker check connects with the pole's own credentials and TLS settings, under a client id
of its own so that no session is taken over: ``spole-<id>-selftest`` for this command (the daily
timer), ``spole-<id>-selftest-remote`` for the ``selftest`` remote command, which may run at the
same time; the agent's own is ``spole-<id>``. The broker's ACL keys on the user name (the pole id),
not the client id. The report is that connection's first, retained publication, so "broker
reachable" and "result published" are one act.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pole_agent import __version__
from pole_agent.atomic_file import write_atomic
from pole_agent.board_profile import default_hw_dirs
from pole_agent.clock import SystemClock
from pole_agent.config import ConfigError, PoleConfig, load_config
from pole_agent.decisions.clock_trust import kernel_clock_synchronised
from pole_agent.drivers.mqtt_link import MqttLink
from pole_agent.installer.checks import fail, passed, run_checks
from pole_agent.installer.report import CheckResult, table
from pole_agent.ports import Clock
from pole_agent.telemetry import topics
from pole_agent.telemetry.outbox import OutMessage

EXIT_OK, EXIT_FAILED = 0, 1
LAST_FILE = "selftest-last.json"
DAILY_TOOL = "selftest"
"""The broker client id suffix of `pole-agent selftest` (``spole-<id>-selftest``)."""
REMOTE_TOOL = "selftest-remote"
"""The broker client id suffix of the ``selftest`` remote command (``spole-<id>-selftest-remote``):
a session apart from the daily one's, so the two may overlap."""


def client_id(pole_id: str, tool: str) -> str:
    """The broker client id of a pole's tool (``spole-<id>-<tool>``)."""
    return f"spole-{pole_id}-{tool}"


def selftest_topic(pole_id: str) -> str:
    return f"{topics.PREFIX}/{pole_id}/selftest"


class SelftestReport(BaseModel):
    """The published result (docs/mqtt.md, ``spole/<id>/selftest``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pole_id: str = Field(description="The pole's id.")
    version: str = Field(description="Agent version that ran the test.")
    ts: str = Field(description="When the test ended (ISO 8601, UTC).")
    agent_running: bool = Field(description="Whether the agent answered on its status socket.")
    ok: bool = Field(description="No check failed.")
    checks: list[CheckResult] = Field(description="Every check, in order.")


class _NoOutbox:
    """The selftest link publishes only its report (as the connection's first message)."""

    def __init__(self) -> None:
        self.boot_id = ""
        self._wake = threading.Event()

    def put(self, message: OutMessage) -> None:
        return None

    def take(self, limit: int, timeout: float) -> list[OutMessage]:
        self._wake.wait(timeout)
        self._wake.clear()
        return []

    def ack(self, message: OutMessage) -> None:
        return None

    def release(self, messages: list[OutMessage]) -> None:
        return None

    def wake(self) -> None:
        self._wake.set()

    def __len__(self) -> int:
        return 0


def publish(
    config: PoleConfig,
    payload: Callable[[bool], bytes],
    clock: Clock,
    timeout_s: float,
    *,
    topic: str | None = None,
    tool: str = "selftest",
) -> CheckResult:
    """Connect with the pole's credentials; the first message is ``payload(True)``, retained on
    ``topic`` (default the selftest topic)."""
    name = "broker reachable"
    if config.mqtt is None:
        return CheckResult(name=name, outcome="skip", detail="no broker configured (offline pole)")
    try:
        link = MqttLink(
            config.mqtt,
            client_id=client_id(config.pole_id, tool),
            username=config.mqtt_username or config.pole_id,
            status_topic=topic or selftest_topic(config.pole_id),
            birth=lambda: payload(True),
            last_will=payload(False),
            outbox=_NoOutbox(),
            clock=clock,
        )
    except (OSError, ValueError) as err:
        return fail(name, f"cannot set up the connection: {err}", "check [mqtt] and its files")
    link.start()
    connected = link.wait_connected(timeout_s)
    state, error = link.link_state(), link.last_error
    link.close(payload(connected), timeout=3.0)
    where = f"{config.mqtt.host}:{config.mqtt.port}"
    if not connected:
        return fail(
            name,
            f"{where}: {state}{f' ({error})' if error else ''}",
            "check the network, the broker address, the pole's password and TLS files",
        )
    return passed(name, f"{where} as {config.mqtt_username or config.pole_id}; result published")


def run_selftest(
    config: PoleConfig,
    *,
    clock: Clock,
    hw_dirs: list[Path] | None = None,
    kernel_clock_sync: Callable[[], bool | None] = kernel_clock_synchronised,
    radar_timeout_s: float = 15.0,
    broker_timeout_s: float = 15.0,
    tool: str = DAILY_TOOL,
) -> SelftestReport:
    """Run every check, publish the result and keep it in ``<state_dir>/selftest-last.json``;
    ``tool`` names the broker connection (DAILY_TOOL or REMOTE_TOOL: each its own session)."""
    running, checks = run_checks(
        config,
        clock=clock,
        hw_dirs=hw_dirs or default_hw_dirs(),
        kernel_clock_sync=kernel_clock_sync,
        radar_timeout_s=radar_timeout_s,
    )

    def report(broker: CheckResult) -> SelftestReport:
        final = [*checks, broker]
        return SelftestReport(
            pole_id=config.pole_id,
            version=__version__,
            ts=clock.wall().isoformat(timespec="seconds"),
            agent_running=running,
            ok=all(c.outcome != "fail" for c in final),
            checks=final,
        )

    where = "" if config.mqtt is None else f"{config.mqtt.host}:{config.mqtt.port}"

    def payload(connected: bool) -> bytes:
        broker = (
            passed("broker reachable", f"{where}; result published")
            if connected
            else fail("broker reachable", f"{where}: lost", "check the network")
        )
        return report(broker).model_dump_json().encode()

    result = report(publish(config, payload, clock, broker_timeout_s, tool=tool))
    try:
        write_atomic(config.state_dir / LAST_FILE, result.model_dump_json(indent=2).encode())
    except OSError as err:
        print(f"could not keep the result in {config.state_dir}: {err}", file=sys.stderr)
    return result


def cmd_selftest(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"{args.config}: {len(err.problems)} problem(s)", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
    result = run_selftest(
        config,
        clock=SystemClock(),
        radar_timeout_s=args.radar_timeout,
        broker_timeout_s=args.broker_timeout,
    )
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(f"selftest of pole {result.pole_id} ({result.ts})")
        print("\n".join(table(result.checks)))
        print("PASSED" if result.ok else "FAILED")
    return EXIT_OK if result.ok else EXIT_FAILED


def seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"must be in (0, 600] s: {text!r}")
    return value


def add_selftest_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "selftest", help="check every part that needs no person; exit 1 on a failure"
    )
    parser.add_argument(
        "--config", "-c", type=Path, default=Path("/etc/pole-agent/config.toml"), help="config"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--radar-timeout", type=seconds_arg, default=15.0, help="seconds")
    parser.add_argument("--broker-timeout", type=seconds_arg, default=15.0, help="seconds")
    parser.set_defaults(func=cmd_selftest)
