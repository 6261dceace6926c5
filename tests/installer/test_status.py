"""`pole-agent status` and `watch` against a running simulated pole, through the real socket."""

from __future__ import annotations

import argparse
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import RootModel

from pole_agent import __version__
from pole_agent.installer.status import cmd_status
from pole_agent.status_snapshot import StatusSnapshot, build_snapshot
from pole_agent.status_socket import (
    StatusServer,
    StatusUnavailableError,
    StatusVersionError,
    query,
    socket_path,
)
from simulator.broker import MosquittoBroker
from simulator.world import Vehicle
from tests.integration.harness import SimPole, make_pole

STATUS = [sys.executable, "-m", "pole_agent"]


@pytest.fixture
def pole(tmp_path: Path, broker: MosquittoBroker) -> Iterator[SimPole]:
    vehicles = [Vehicle(1, 2.0, 55.0, "approaching"), Vehicle(2, 14.0, 25.0, "receding")]
    built = make_pole(tmp_path, vehicles, factor=10.0, broker=broker)
    built.emulator.start()
    built.agent.start()
    try:
        yield built
    finally:
        built.agent.stop()
        built.emulator.stop()


def _wait_for(pole: SimPole, transits: int) -> StatusSnapshot:
    path = socket_path(pole.agent.config.state_dir)
    deadline = time.monotonic() + 40
    snap = query(path)
    while time.monotonic() < deadline:
        snap = query(path)
        if snap.transits_reported >= transits and snap.broker_link == "connected":
            return snap
        time.sleep(0.1)
    return snap


def test_status_reads_the_running_agent(pole: SimPole) -> None:
    path = socket_path(pole.agent.config.state_dir)
    mode = stat.S_IMODE(path.lstat().st_mode)
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert mode == 0o600, oct(mode)
    assert path.stat().st_uid == os.getuid()

    snap = _wait_for(pole, transits=2)
    assert snap.pole_id == pole.agent.config.pole_id
    assert snap.boot_id == pole.agent.boot_id
    assert snap.transits_reported == 2
    assert snap.mode == pole.agent.warnings.failsafe.mode  # type: ignore[union-attr]
    assert snap.mode_source == "failsafe"
    assert snap.mode in ("normal", "degraded", "off_hours")
    assert snap.limit_kmh == pole.agent.pipeline.zone.limit_kmh
    speeds = sorted(round(t.peak_kmh) for t in snap.recent_transits)
    assert len(speeds) == 2 and abs(speeds[0] - 25) <= 3 and abs(speeds[1] - 55) <= 3
    assert snap.health["radar.road"].state == "ok"
    assert snap.broker_link == "connected"
    assert snap.radars[0].role == "road" and snap.radars[0].identity is not None
    assert snap.spool is not None and snap.spool.state == "ok" and snap.spool.dropped_total == 0
    assert snap.clutter_frames is not None and snap.older_spool is None

    # The command line, as a person runs it.
    out = subprocess.run(
        [sys.executable, "-m", "pole_agent", "status", "--socket", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"pole {snap.pole_id}" in out.stdout
    assert f"mode:    {snap.mode}" in out.stdout
    assert "radar.road" in out.stdout and "link connected" in out.stdout
    assert "\nspool:   " in out.stdout and " on disk of " in out.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "pole_agent", "status", "--socket", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert StatusSnapshot.model_validate_json(as_json.stdout).transits_reported == 2

    watch = subprocess.run(
        [*STATUS, "watch", "--socket", str(path), "--interval", "0.2", "--count", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert watch.returncode == 0, watch.stderr
    assert watch.stdout.count("\x1b[H\x1b[2J") == 3
    assert watch.stdout.count(f"pole {snap.pole_id}") == 3


def test_unknown_request_is_refused_and_counted(pole: SimPole) -> None:
    path = socket_path(pole.agent.config.state_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"shutdown\n")
        answer = sock.recv(4096)
    assert b"unknown request" in answer
    assert query(path).pole_id == pole.agent.config.pole_id


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to try as another user")
def test_another_user_cannot_connect(pole: SimPole) -> None:
    path = socket_path(pole.agent.config.state_dir)
    pid = os.fork()
    if pid == 0:  # the child: become nobody, try to read the status
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                code = 0 if sock.recv(10) else 1
        except PermissionError:
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) in (1, 2)  # refused: by mode, or by SO_PEERCRED


def test_stopped_agent_is_reported_and_the_socket_removed(tmp_path: Path) -> None:
    built = make_pole(tmp_path, [], factor=10.0)
    built.emulator.start()
    built.agent.start()
    path = socket_path(built.agent.config.state_dir)
    assert query(path).pole_id == built.agent.config.pole_id
    built.agent.stop()
    built.emulator.stop()
    assert not path.exists()
    with pytest.raises(StatusUnavailableError, match="agent running"):
        query(path)
    out = subprocess.run(
        [sys.executable, "-m", "pole_agent", "status", "--socket", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 4 and "no running agent" in out.stderr


def test_a_second_agent_does_not_take_over_the_socket(pole: SimPole, tmp_path: Path) -> None:
    path = socket_path(pole.agent.config.state_dir)
    problems: list[str] = []
    second = StatusServer(path, lambda: query(path), on_problem=problems.append)
    second.start()
    second.stop()
    assert problems and "another agent" in problems[0]
    assert query(path).boot_id == pole.agent.boot_id


def _serve(path: Path, answer: dict[str, Any]) -> StatusServer:
    server = StatusServer(path, lambda: RootModel[dict[str, Any]](answer))
    server.start()
    return server


def _status(path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    args = argparse.Namespace(socket=path, config=None, json="--json" in flags)
    code = cmd_status(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_agent_serving_the_previous_snapshot_version_is_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """During an update the new `pole-agent` may ask the agent before its restart (version 2:
    the spool as three flat fields, no clutter count)."""
    built = make_pole(tmp_path, [], factor=10.0)  # built, never started: only its snapshot
    current = json.loads(build_snapshot(built.agent).model_dump_json())
    spool = current.pop("spool")
    del current["clutter_frames"]
    previous = {
        **current,
        "snapshot_version": 2,
        "spool_depth": 3,
        "spool_state": spool["state"],
        "spool_dropped": {"events/vehicle": 2},
    }
    path = tmp_path / "old.sock"
    server = _serve(path, previous)
    try:
        snap = query(path)
        code, out, err = _status(path, capsys)
        json_code, as_json, _ = _status(path, capsys, "--json")
    finally:
        server.stop()
    assert snap.snapshot_version == 2 and snap.spool is None and snap.clutter_frames is None
    assert snap.older_spool is not None and snap.older_spool.depth == 3
    assert snap.pole_id == current["pole_id"] and set(snap.health) == set(current["health"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == (
        f"note:    the running agent ({snap.version}) serves status version 2; this pole-agent "
        f"({__version__}) reads 3: restart the agent to finish the update "
        "(systemctl restart pole-agent)"
    )
    restart = "  [sizes and ages: after the agent's restart]"
    assert f"spool:   3 waiting (ok), 2 dropped{restart}" in lines
    assert f"  frames {snap.frames}, last read never, last speed -" in lines
    assert json_code == 0
    shown = json.loads(as_json)
    assert shown["snapshot_version"] == 2 and shown["spool"] is None
    assert shown["clutter_frames"] is None and "spool_depth" not in shown


def test_an_agent_serving_a_newer_snapshot_version_is_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_pole(tmp_path, [], factor=10.0)
    newer = {**json.loads(build_snapshot(built.agent).model_dump_json()), "snapshot_version": 4}
    newer["something_new"] = True
    path = tmp_path / "new.sock"
    server = _serve(path, newer)
    try:
        with pytest.raises(StatusVersionError, match="newer than this pole-agent reads"):
            query(path)
        code, _, err = _status(path, capsys)
    finally:
        server.stop()
    assert code == 4
    assert err.startswith(f"cannot read the running agent: {path}: the agent serves snapshot")
