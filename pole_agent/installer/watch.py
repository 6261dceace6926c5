"""`pole-agent watch`: `status`, redrawn in place (plain ANSI, no curses) until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TextIO

from pole_agent.config import ConfigError
from pole_agent.installer.status import (
    EXIT_FAIL,
    EXIT_OK,
    add_socket_options,
    render,
    resolve_socket,
    unavailable,
)
from pole_agent.status_socket import StatusUnavailableError, query

CLEAR = "\x1b[H\x1b[2J"


def watch(args: argparse.Namespace, out: TextIO, stop: threading.Event, colour: bool) -> int:
    try:
        path = resolve_socket(args)
    except ConfigError as err:
        print(f"{args.config}: {'; '.join(err.problems)}", file=sys.stderr)
        return EXIT_FAIL
    frames = 0
    while not stop.is_set():
        stamp = time.strftime("%H:%M:%S")
        try:
            lines = render(query(path), colour=colour)
        except StatusUnavailableError as err:
            lines = [unavailable(err), "(retrying)"]
        out.write(CLEAR + f"pole-agent watch  {stamp}  every {args.interval:g} s, Ctrl-C ends\n")
        out.write("\n".join(lines) + "\n")
        out.flush()
        frames += 1
        if args.count is not None and frames >= args.count:
            break
        stop.wait(args.interval)
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    stop = threading.Event()
    try:
        return watch(args, sys.stdout, stop, colour=sys.stdout.isatty())
    except KeyboardInterrupt:
        return EXIT_OK


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 3600 s: {text!r}")
    return value


def add_watch_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("watch", help="status, refreshed live")
    add_socket_options(parser)
    parser.add_argument("--interval", type=_interval, default=1.0, help="seconds between redraws")
    parser.add_argument("--count", type=int, default=None, help="stop after N redraws")
    parser.set_defaults(func=cmd_watch)
