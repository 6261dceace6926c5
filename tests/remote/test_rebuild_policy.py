"""What ``pole-agent run`` rebuilds with when a rebuild cannot be built (rebuild.py), on real
configs and a real remote store; the build is a recorder that refuses the configs a test marks
(as build_agent raises StartupError). The whole process is tests/remote/test_rebuild_fallback.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pole_agent.config import PoleConfig, parse_config
from pole_agent.remote.rebuild import NextConfig, Rebuilt, rebuild
from pole_agent.remote.store import RemoteStore, StoredConfig, Trial


class CannotStartError(Exception):
    pass


class Builds:
    """The build port: records every config asked for, refuses those with a hold in ``broken``."""

    def __init__(self, *broken: float) -> None:
        self.broken = set(broken)
        self.asked: list[float] = []

    def __call__(self, config: PoleConfig) -> str:
        self.asked.append(config.warning.hold_s)
        if config.warning.hold_s in self.broken:
            raise CannotStartError(f"zone.calendar_file: gone (hold {config.warning.hold_s:g})")
        return f"agent({config.warning.hold_s:g})"


@pytest.fixture
def configs(tmp_path: Path) -> Callable[..., PoleConfig]:
    def make(hold_s: float, version: int = 0) -> PoleConfig:
        body: dict[str, Any] = {
            "pole_id": "pole-a",
            "state_dir": str(tmp_path),
            "radars": {"road": {}},
            "mqtt": {"host": "localhost"},
            "remote": {"enabled": True},
            "warning": {"hold_s": hold_s},
            "config_version": version,
        }
        return parse_config(body)

    return make


def run(
    wanted: NextConfig,
    builds: Builds,
    *,
    running: PoleConfig,
    local: PoleConfig,
    reread: PoleConfig | None = None,
) -> Rebuilt[str] | None:
    return rebuild(
        wanted,
        running=running,
        local=local,
        read_local=lambda: reread,
        build=builds,
        cannot_start=CannotStartError,
    )


def stored(config: PoleConfig) -> StoredConfig:
    return StoredConfig(config.config_version, config.model_dump(mode="json"))


def test_a_remote_config_that_cannot_be_built_is_rolled_back_to_last_known_good(
    tmp_path: Path, configs: Callable[..., PoleConfig]
) -> None:
    local, good, trial, bad = configs(1.0), configs(2.0, 1), configs(3.0, 2), configs(4.0, 3)
    store = RemoteStore(tmp_path)
    store.save_applied(stored(good))
    store.save_last_good(stored(good))
    store.save_applied(stored(bad))
    store.save_trial(Trial(3, running=True))
    builds = Builds(4.0)
    # v2 (on trial, not yet last-known-good) was running when v3 arrived.
    done = run(NextConfig("apply", bad), builds, running=trial, local=local)
    assert done is not None and done.agent == "agent(2)" and done.config == good
    assert builds.asked == [4.0, 2.0] and done.failed_reload is None
    after = RemoteStore(tmp_path)
    assert after.applied is not None and after.applied.version == 1 and after.trial is None
    note = after.boot_rollback  # reported by the next agent's handler, as a start-up rollback
    assert note is not None and note.version == 3
    assert "could not be built with v3: zone.calendar_file: gone" in note.reason
    assert note.reason.endswith("back to last-known-good v1")


def test_when_last_known_good_cannot_be_built_either_the_previous_config_runs(
    tmp_path: Path, configs: Callable[..., PoleConfig]
) -> None:
    local, trial, bad = configs(1.0), configs(3.0, 2), configs(4.0, 3)
    RemoteStore(tmp_path).save_applied(stored(bad))
    builds = Builds(4.0, 1.0)  # no last-known-good: the local file's, which fails too
    done = run(NextConfig("apply", bad), builds, running=trial, local=local)
    assert done is not None and done.config == trial and builds.asked == [4.0, 1.0, 3.0]
    assert RemoteStore(tmp_path).applied is None  # the store's rollback stands

    builds = Builds(4.0, 1.0, 3.0)  # the hardware is gone: nothing builds
    assert run(NextConfig("apply", bad), builds, running=trial, local=local) is None


def test_a_reload_that_cannot_be_built_keeps_the_previous_config_and_is_answered(
    configs: Callable[..., PoleConfig],
) -> None:
    local, new_file = configs(1.0), configs(5.0)
    builds = Builds(5.0)
    done = run(NextConfig("reload", new_file, "r-1"), builds, running=local, local=local)
    assert done is not None and done.config == local and done.local == local
    assert builds.asked == [5.0, 1.0]
    failed = done.failed_reload
    assert failed is not None and failed.command_id == "r-1"
    assert "the previous config runs again" in failed.detail and "gone" in failed.error

    done = run(NextConfig("reload", new_file, "r-2"), Builds(), running=local, local=local)
    assert done is not None and done.config == new_file and done.local == new_file
    assert done.failed_reload is None


def test_a_rollback_to_a_broken_local_file_uses_its_last_good_reading(
    configs: Callable[..., PoleConfig],
) -> None:
    local, unhealthy = configs(1.0), configs(3.0, 2)
    done = run(NextConfig("rollback"), Builds(), running=unhealthy, local=local, reread=None)
    assert done is not None and done.config == local

    edited = configs(6.0)
    done = run(NextConfig("rollback"), Builds(), running=unhealthy, local=local, reread=edited)
    assert done is not None and done.config == edited and done.local == edited

    builds = Builds(1.0)  # the rolled-back config cannot be built: the previous one runs
    done = run(NextConfig("rollback"), builds, running=unhealthy, local=local)
    assert done is not None and done.config == unhealthy and builds.asked == [1.0, 3.0]
