"""The ``pole-agent`` command line.

Exit codes (docs/cli.md): 0 success or a clean stop; 1 invalid configuration or a failed check;
2 command-line usage error; 3 the agent cannot start (board profile, state dir, GPIO); 70 an
unexpected internal error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from functools import partial
from pathlib import Path

from pole_agent import __version__
from pole_agent.app import StartupError, build_agent
from pole_agent.board_profile import default_hw_dirs
from pole_agent.clock import SystemClock
from pole_agent.config import ConfigError, PoleConfig, load_config, summary
from pole_agent.daemon import install_stop_signals, run_until_stopped
from pole_agent.installer.commission import add_commission_command
from pole_agent.installer.selftest import add_selftest_command
from pole_agent.installer.status import add_status_command
from pole_agent.installer.watch import add_watch_command
from pole_agent.logging_setup import setup_logging
from pole_agent.preflight import preflight
from pole_agent.radar_tools import add_radar_commands
from pole_agent.release_cli import add_release_commands, add_update_commands
from pole_agent.remote.boot import local_or_remote
from pole_agent.remote.rebuild import rebuild
from pole_agent.remote.wiring import RestartAwareNotifier

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_USAGE = 2
EXIT_STARTUP = 3
EXIT_INTERNAL = 70

log = logging.getLogger("pole_agent")


def _load_checked(path: Path, out: list[str]) -> PoleConfig | None:
    """Load and preflight a config; problems are appended to ``out``."""
    try:
        config = load_config(path)
    except ConfigError as err:
        out.extend(err.problems)
        return None
    out.extend(preflight(config, default_hw_dirs()))
    return config


def load_checked_or_raise(path: Path) -> PoleConfig:
    """The ``reload`` command's check of the local file (RemoteParts.load_local): the same
    checks as a start; raises ConfigError naming every problem."""
    problems: list[str] = []
    config = _load_checked(path, problems)
    if problems or config is None:
        raise ConfigError(str(path), problems)
    return config


def cmd_config_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    config = _load_checked(args.file, problems)
    if problems or config is None:
        print(f"{args.file}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    print("ok")
    for line in summary(config):
        print(f"  {line}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    problems: list[str] = []
    local = _load_checked(args.config, problems)
    if problems or local is None:
        for problem in problems:
            log.error("config %s: %s", args.config, problem)
        return EXIT_CONFIG
    stop = threading.Event()
    received = install_stop_signals(stop)
    try:  # only the first build may end the process (exit 3): a rebuild falls back (rebuild.py)
        agent = build_agent(local_or_remote(local), SystemClock())
    except StartupError as err:
        log.error("cannot start: %s", err)
        return EXIT_STARTUP
    while True:
        notifier = RestartAwareNotifier.from_environ()
        remote = agent.remote
        if remote is not None:
            remote.load_local = partial(load_checked_or_raise, args.config)
        if remote is not None and isinstance(notifier, RestartAwareNotifier):
            remote.on_restart = stop.set
            notifier.restarting = remote.restart_pending
        reason = run_until_stopped(agent, stop, args.duration, notifier=notifier)
        # A remote config applied or rolled back (or a `reload` command): rebuild the agent.
        wanted = remote.next_config if remote is not None else None
        if received or wanted is None:
            break
        stop.clear()
        if received:  # a signal after the check above: its `stop` was just cleared
            break
        log.info("restarting the agent (%s)", wanted.kind)
        rebuilt = rebuild(
            wanted,
            running=agent.config,
            local=local,
            read_local=partial(_read_for_rollback, args.config),
            build=partial(build_agent, clock=SystemClock()),
            cannot_start=StartupError,
        )
        if rebuilt is None:  # not even the config that ran before builds (rebuild.py)
            return EXIT_STARTUP
        agent, local = rebuilt.agent, rebuilt.local
        if agent.remote is not None:  # a reload that could not be built: answered again
            agent.remote.failed_reload = rebuilt.failed_reload
        log.info("restarting the agent with config version %s", rebuilt.config.config_version)
    log.info("exiting (%s%s)", reason, f": {', '.join(received.values())}" if received else "")
    return EXIT_OK


def _read_for_rollback(path: Path) -> PoleConfig | None:
    """The local file, read again for a rollback to it; None (each problem logged) when broken."""
    problems: list[str] = []
    config = _load_checked(path, problems)
    for problem in problems:
        log.error("config %s: %s (its last good reading is used)", path, problem)
    return None if problems else config


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator.demo import run_demo  # noqa: PLC0415 (the daemon never loads the simulator)

    return run_demo(args)


def cmd_fleet_listen(args: argparse.Namespace) -> int:
    from pole_agent.fleet.listen import run_listen  # noqa: PLC0415 (the daemon never loads it)

    setup_logging(args.log_level, args.log_format)
    stop = threading.Event()
    install_stop_signals(stop)
    return run_listen(args, stop)


def cmd_version(args: argparse.Namespace) -> int:
    print(f"pole-agent {__version__}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pole-agent", description="S-Pole school-zone smart pole agent."
    )
    parser.add_argument("--version", action="version", version=f"pole-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent (the daemon)")
    run.add_argument("--config", "-c", type=Path, required=True, help="config file (TOML)")
    _add_log_options(run)
    run.add_argument(
        "--duration", type=_positive_float, default=None, help="stop after this many seconds"
    )
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file")
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_config_check)

    sim = sub.add_parser("simulate", help="run the agent on a simulated pole (no hardware)")
    sim.add_argument(
        "--config",
        "-c",
        type=Path,
        default=None,
        help="pole config (default: deploy/config/simulator.toml); its radar port, pins and "
        "broker are replaced by the simulator's",
    )
    sim.add_argument("--duration", type=_positive_float, default=None, help="real seconds to run")
    sim.add_argument(
        "--speed", type=_positive_float, default=1.0, help="time compression factor (e.g. 10)"
    )
    sim.add_argument(
        "--vehicles-per-hour", type=_positive_float, default=600.0, help="traffic rate"
    )
    sim.add_argument("--seed", type=int, default=1, help="random seed of the traffic")
    sim.add_argument(
        "--no-broker", action="store_true", help="do not start a private Mosquitto broker"
    )
    sim.add_argument(
        "--view",
        choices=("auto", "live", "log"),
        default="auto",
        help="live terminal view, or one log line per event (auto: live on a terminal)",
    )
    sim.add_argument("--state-dir", type=Path, default=None, help="state folder (default: temp)")
    sim.add_argument(
        "--scenario",
        metavar="NAME",
        default=None,
        help="play a named scenario of the library and check its promised outcome "
        "(docs/scenarios.md); --speed applies, the traffic options do not",
    )
    sim.add_argument(
        "--list-scenarios", action="store_true", help="list the scenario library and exit"
    )
    _add_log_options(sim)
    sim.set_defaults(func=cmd_simulate)

    add_release_commands(sub)
    add_update_commands(sub)

    add_radar_commands(sub)
    add_status_command(sub)
    add_watch_command(sub)
    add_selftest_command(sub)
    add_commission_command(sub)

    fleet = sub.add_parser(
        "fleet",
        help="the city's side: consume telemetry, manage credentials, send config and commands",
    )
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    listen = fleet_sub.add_parser(
        "listen", help="subscribe to poles, de-duplicate, report gaps, store in SQLite"
    )
    from pole_agent.fleet.listen import add_arguments  # noqa: PLC0415

    add_arguments(listen)
    _add_log_options(listen)
    listen.set_defaults(func=cmd_fleet_listen)
    from pole_agent.fleet.admin_cli import add_admin_commands  # noqa: PLC0415

    add_admin_commands(fleet_sub)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)
    return parser


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument("--log-format", default="text", choices=("text", "json"))


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:
        logging.getLogger("pole_agent").exception("internal error")
        return EXIT_INTERNAL
    return code


if __name__ == "__main__":
    sys.exit(main())
