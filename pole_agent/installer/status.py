"""`pole-agent status`: what the running agent is doing now, read from its status socket."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pole_agent import __version__
from pole_agent.config import ConfigError, load_config
from pole_agent.status_snapshot import SNAPSHOT_VERSION, StatusSnapshot
from pole_agent.status_socket import (
    StatusUnavailableError,
    StatusVersionError,
    query,
    socket_path,
)

DEFAULT_CONFIG = Path("/etc/pole-agent/config.toml")
EXIT_OK, EXIT_FAIL, EXIT_UNAVAILABLE = 0, 1, 4

BOLD, RED, GREEN, YELLOW, DIM, RESET = (
    "\x1b[1m",
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[2m",
    "\x1b[0m",
)
_STATE_COLOUR = {"ok": GREEN, "normal": GREEN, "off_hours": GREEN, "connected": GREEN}
_BAD = {"failed", "fail_safe"}


class Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text

    def state(self, text: str | None) -> str:
        shown = text or "-"
        if text in _STATE_COLOUR:
            return self(shown, _STATE_COLOUR[text])
        return self(shown, RED if text in _BAD else YELLOW)


def resolve_socket(args: argparse.Namespace) -> Path:
    """The socket from --socket, or <state_dir>/status.sock of --config. Raises ConfigError."""
    if args.socket is not None:
        return Path(args.socket)
    config = load_config(args.config)
    return socket_path(config.state_dir)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _size(nbytes: int) -> str:
    if nbytes < 1024:
        return f"{nbytes} B"
    if nbytes < 2**20:
        return f"{nbytes / 1024:.0f} kB"
    return f"{nbytes / 2**20:.1f} MB"


def _spool(snap: StatusSnapshot, p: Painter) -> str:
    """The spool line: the health report's spool object, or what an older agent gave."""
    spool, older = snap.spool, snap.older_spool
    if spool is not None:
        line = f"spool:   {spool.depth} waiting ({p.state(spool.state)})"
        if spool.oldest_s is not None:
            line += f", oldest {_age(spool.oldest_s).removesuffix(' ago')}"
        line += f", {_size(spool.disk_bytes)} on disk of {_size(spool.max_bytes)}"
        if spool.dropped_total:
            line += p(f", {spool.dropped_total} dropped", YELLOW)
        if spool.dropped_safety:
            line += p(f" ({spool.dropped_safety} of them warnings or faults)", RED)
        if spool.write_errors:
            line += p(f", {spool.write_errors} disk write errors", YELLOW)
        return line
    if older is not None:
        dropped = sum(older.dropped.values())
        return (
            f"spool:   {older.depth} waiting ({p.state(older.state)})"
            + (p(f", {dropped} dropped", YELLOW) if dropped else "")
            + p("  [sizes and ages: after the agent's restart]", DIM)
        )
    return "spool:   not reported"


def _operator_text(snap: StatusSnapshot) -> str:
    item = snap.operator_text
    if item is None:
        return "no city text (the local rules)"
    when = "" if item.shown else ", under the current warning"
    return (
        f"city text {item.text!r}, {item.seconds_left:.0f} s left "
        f"(until {item.until}, command {item.command_id}{when})"
    )


def render(snap: StatusSnapshot, colour: bool = False) -> list[str]:
    """The status as lines of text (ANSI colours when ``colour``)."""
    p = Painter(colour)
    zone = "active" if snap.zone_active else "not active"
    limit = "-" if snap.limit_kmh is None else f"{snap.limit_kmh:g} km/h"
    lines = [
        p(f"pole {snap.pole_id}", BOLD)
        + f"  agent {snap.version}  pid {snap.pid}  up {snap.uptime_s:.0f} s  boot {snap.boot_id}",
        f"mode:    {p.state(snap.mode)}  ({snap.mode_reason})"
        + ("" if snap.mode_source == "failsafe" else p("  [derived from health]", DIM)),
        f"zone:    {zone}, limit in force {limit}  ({snap.zone_reason})",
        f"sign:    {_operator_text(snap)}",
        f"clock:   {'trusted' if snap.clock_trusted else 'NOT trusted'}",
        f"health:  {p.state(snap.overall)}",
    ]
    if snap.snapshot_version < SNAPSHOT_VERSION:
        lines.insert(
            1,
            p(
                f"note:    the running agent ({snap.version}) serves status version "
                f"{snap.snapshot_version}; this pole-agent ({__version__}) reads "
                f"{SNAPSHOT_VERSION}: restart the agent to finish the update "
                "(systemctl restart pole-agent)",
                YELLOW,
            ),
        )
    for name, item in snap.health.items():
        lines.append(f"  {name:<18} {p.state(item.state):<8} {item.reason}")
    for radar in snap.radars:
        ident = radar.identity or {}
        who = " ".join(str(ident.get(k)) for k in ("product", "version", "uid") if ident.get(k))
        lines.append(f"radar {radar.role}: {radar.port}  {who or 'identity not read yet'}")
    speed = "-" if snap.last_speed_kmh is None else f"{snap.last_speed_kmh:.1f} km/h"
    clutter = "" if snap.clutter_frames is None else f" ({snap.clutter_frames} clutter)"
    lines.append(
        f"  frames {snap.frames}{clutter}, last read {_age(snap.last_frame_age_s)}, "
        f"last speed {speed}"
    )
    lines.append(
        f"transits: {snap.transits_reported} reported, warnings given {snap.warnings_given}"
    )
    for t in snap.recent_transits:
        flag = p("WARNED", YELLOW) if t.warned else ""
        lines.append(
            f"  {_age(t.age_s):>12}  {t.direction:<11} {t.peak_kmh:5.1f} km/h "
            f"(limit {t.limit_kmh:g}) {flag}"
        )
    if snap.recent_warnings:
        lines.append("last decisions:")
    for w in snap.recent_warnings:
        lines.append(f"  {_age(w.age_s):>12}  {w.rule}: {w.trigger} -> {', '.join(w.outputs)}")
    lines.append(_spool(snap, p))
    lines.append(
        f"broker:  {snap.broker or 'none configured'}  link {p.state(snap.broker_link)}, "
        f"{snap.broker_delivered} delivered"
    )
    return lines


def unavailable(err: StatusUnavailableError) -> str:
    """What to print when the agent could not be read."""
    if isinstance(err, StatusVersionError):
        return f"cannot read the running agent: {err}"
    return f"no running agent: {err}"


def add_socket_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--config",
        "-c",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"the pole's config, to find its state dir (default {DEFAULT_CONFIG})",
    )
    group.add_argument(
        "--socket", type=Path, default=None, help="the agent's status socket (instead of --config)"
    )


def cmd_status(args: argparse.Namespace) -> int:
    try:
        path = resolve_socket(args)
        snap = query(path)
    except ConfigError as err:
        print(f"{args.config}: {'; '.join(err.problems)}", file=sys.stderr)
        return EXIT_FAIL
    except StatusUnavailableError as err:
        print(unavailable(err), file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.json:
        print(snap.model_dump_json(indent=2))
    else:
        print("\n".join(render(snap, colour=sys.stdout.isatty())))
    return EXIT_OK


def add_status_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="what the running agent is doing now")
    add_socket_options(status)
    status.add_argument("--json", action="store_true", help="the raw snapshot as JSON")
    status.set_defaults(func=cmd_status)
