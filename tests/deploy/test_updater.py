"""Updates in a throwaway root, with the agent really running under a notify supervisor: a good
release is kept; one that crashes or whose pipeline sticks is rolled back; a tampered or foreign
artefact is refused before anything changes; an update cut off by a reboot is undone at boot."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pole_agent import __version__
from pole_agent.clock import ManualClock, SystemClock
from pole_agent.release import ReleaseRefusedError, build_artefact, generate_keypair
from pole_agent.release_layout import Layout
from pole_agent.service_control import ServiceState
from pole_agent.updater import UpdateError, Updater, wait_healthy
from tests.deploy.conftest import (
    DEPS_PATH,
    OFFLINE_PIP,
    ROOT,
    BuildWheel,
    Installed,
    tree_digest,
)
from tests.deploy.supervisor import Supervisor

GRACE_S = 6.0  # generous: the agent reports ready 1-2 s after it is started here
WATCHDOG_S = 1.0

#: A release whose process dies at start (an import that fails on the pole, say).
CRASHES = "raise SystemExit(70)"
#: A release that starts and reports ready, then its pipeline thread sticks after ~2 s.
STICKS = """
import time as _time
from pole_agent import radar_pipeline as _rp
_on_tick = _rp.RadarPipeline.on_tick
def _sticky(self, now):
    _on_tick(self, now)
    if self.ticks > 40:
        _time.sleep(3600)
_rp.RadarPipeline.on_tick = _sticky
"""


@dataclass
class Pole:
    root: Path
    layout: Layout
    supervisor: Supervisor
    updater: Updater
    key: Path
    work: Path

    def artefact(self, wheel: Path, key: Path | None = None) -> Path:
        folder = self.work / f"wheels-{wheel.stem}"
        folder.mkdir(exist_ok=True)
        shutil.copy2(wheel, folder / wheel.name)
        out = self.work / f"{wheel.stem}.release.tar"
        build_artefact([folder / wheel.name], key or self.key, out)
        return out

    def history(self) -> list[str]:
        lines = self.layout.history.read_text().splitlines() if self.layout.history.exists() else []
        return [json.loads(line)["event"] for line in lines]


@pytest.fixture
def pole(installed: Installed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pole]:
    """A copy of the installed pole, its agent started from ``current`` by the supervisor."""
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    for key, value in OFFLINE_PIP.items():
        monkeypatch.setenv(key, value)
    text = (ROOT / "deploy/config/simulator.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^state_dir\s*=.*$", f'state_dir = "{tmp_path / "state"}"', text)
    text = re.sub(r'(?m)^port\s*=\s*"[^"]*"', f'port = "{tmp_path / "no-radar"}"', text)
    config = tmp_path / "pole.toml"
    config.write_text(text, encoding="utf-8")
    supervisor = Supervisor(root, config, watchdog_s=WATCHDOG_S, deps_path=DEPS_PATH)
    layout = Layout(root)
    updater = Updater(
        layout, supervisor, SystemClock(), python=sys.executable, grace_s=GRACE_S, poll_s=0.1
    )
    try:
        supervisor.restart()
        first = wait_healthy(supervisor, SystemClock(), __version__, grace_s=3.0, poll_s=0.1)
        assert first.healthy, f"{first.reason}\n" + "\n".join(supervisor.output[-20:])
        yield Pole(root, layout, supervisor, updater, installed.keys / "city-2026.key", tmp_path)
    finally:
        supervisor.close()


def test_a_good_update_is_switched_to_and_kept(
    pole: Pole, build_wheel: BuildWheel, next_version: Callable[[int], str]
) -> None:
    new = next_version(1)
    result = pole.updater.apply(pole.artefact(build_wheel(new)))
    assert result.outcome == "committed", result.reason + "\n" + "\n".join(pole.supervisor.output)
    assert pole.layout.link_version(pole.layout.current) == new
    assert pole.layout.link_version(pole.layout.previous) == __version__  # kept for rollback
    assert not pole.layout.pending.exists()
    state = pole.supervisor.state()
    assert state.active and state.field("version") == new
    assert pole.supervisor.restarts == 0
    assert pole.history() == ["switched", "committed"]
    # Applying it again changes nothing.
    again = pole.updater.apply(pole.artefact(build_wheel(new)))
    assert again.outcome == "unchanged"
    # An older release is refused unless asked for.
    with pytest.raises(UpdateError, match="older than the running"):
        pole.updater.apply(pole.artefact(build_wheel(__version__)))


@pytest.mark.parametrize(("prelude", "why"), [(CRASHES, "restarted"), (STICKS, "watchdog")])
def test_an_unhealthy_update_is_rolled_back(
    pole: Pole,
    build_wheel: BuildWheel,
    next_version: Callable[[int], str],
    prelude: str,
    why: str,
) -> None:
    bad = next_version(2)
    result = pole.updater.apply(pole.artefact(build_wheel(bad, prelude=prelude)))
    assert result.outcome == "rolled-back", result.reason
    assert why in result.reason
    assert pole.layout.link_version(pole.layout.current) == __version__
    assert not pole.layout.pending.exists()
    assert not pole.layout.release(bad).exists()  # the failed release is removed
    state = pole.supervisor.state()
    assert state.active and state.field("version") == __version__
    assert state.field("watchdog") == "ok"
    assert pole.history() == ["switched", "rolled-back"]


@pytest.mark.parametrize("tamper", ["one byte", "foreign key"])
def test_a_tampered_artefact_is_refused_before_anything_changes(
    pole: Pole, build_wheel: BuildWheel, next_version: Callable[[int], str], tamper: str
) -> None:
    wheel = build_wheel(next_version(1))
    if tamper == "one byte":
        artefact = pole.artefact(wheel)
        data = bytearray(artefact.read_bytes())
        data[len(data) // 2] ^= 0x01
        artefact.write_bytes(bytes(data))
    else:
        generate_keypair(pole.work / "mallory", "mallory")
        artefact = pole.artefact(wheel, key=pole.work / "mallory" / "mallory.key")
    before = tree_digest(pole.root)
    starts = pole.supervisor.starts
    with pytest.raises(ReleaseRefusedError):
        pole.updater.apply(artefact)
    assert tree_digest(pole.root) == before
    assert pole.supervisor.starts == starts  # the service was not touched


def test_an_update_cut_off_by_a_reboot_is_rolled_back_at_boot(
    pole: Pole, build_wheel: BuildWheel, next_version: Callable[[int], str]
) -> None:
    """Power is lost during the grace period: at boot the recover unit runs the *previous*
    release's `pole-agent update recover`, which goes back to it."""

    class PowerCutError(Exception):
        pass

    class LosesPower:
        def restart(self) -> None:
            pass

        def state(self) -> ServiceState:
            raise PowerCutError

    new = next_version(3)
    updater = Updater(pole.layout, LosesPower(), ManualClock(), python=sys.executable)
    with pytest.raises(PowerCutError):
        updater.apply(pole.artefact(build_wheel(new)))
    assert pole.layout.pending.exists()
    assert pole.layout.link_version(pole.layout.current) == new

    previous = pole.root / "opt/pole-agent/previous"
    recover = subprocess.run(
        [str(previous / "bin/python"), "-m", "pole_agent", "update", "recover",
         "--root", str(pole.root)],
        capture_output=True, text=True, check=False, timeout=60, cwd=pole.work,
        env={**os.environ, "PYTHONPATH": DEPS_PATH},
    )  # fmt: skip
    assert recover.returncode == 0, recover.stderr
    assert f"back on {__version__}" in recover.stdout
    assert pole.layout.link_version(pole.layout.current) == __version__
    assert not pole.layout.pending.exists()
    assert not pole.layout.release(new).exists()
    assert pole.history()[-1] == "recovered"
    # Nothing pending: recover is a no-op (the unit's condition skips it anyway).
    assert Updater(pole.layout, LosesPower(), ManualClock()).recover() == "nothing pending"


class ScriptedService:
    """A service whose states the test scripts, one per poll; restarts are recorded."""

    def __init__(self, states: list[ServiceState]) -> None:
        self.states = states
        self.polls = 0

    def restart(self) -> None:
        pass

    def state(self) -> ServiceState:
        self.polls += 1
        return self.states[min(self.polls - 1, len(self.states) - 1)]


def up(version: str, pid: int = 100, restarts: int = 0, watchdog: str = "ok") -> ServiceState:
    return ServiceState(True, pid, restarts, f"version={version} watchdog={watchdog} radar=x")


@pytest.mark.parametrize(
    ("states", "healthy", "reason"),
    [
        ([up("2")], True, "up for the 10 s grace period"),
        ([ServiceState(False, 0, 0, "")], False, "did not report ready within 10 s"),
        ([up("1")], False, "did not report ready"),  # still the old version
        ([up("2"), up("2"), up("2", pid=101, restarts=1)], False, "restarted"),
        ([up("2"), up("2", watchdog="withheld")], False, "withholds its watchdog"),
        ([up("2"), ServiceState(False, 0, 0, "", "failed/failed")], False, "stopped running"),
    ],
)
def test_health_verdicts(states: list[ServiceState], healthy: bool, reason: str) -> None:
    clock = ManualClock()
    service = ScriptedService(states)
    result = wait_healthy(service, clock, "2", grace_s=10.0, poll_s=1.0)
    assert result.healthy is healthy
    assert reason in result.reason
