"""Rebuilding the agent in-process (``pole-agent run``) after it stopped for a change: which
config to build with (``NextConfig``, the one value a running agent's remote part sets to ask for
a rebuild), and what to fall back to when that build fails (docs/remote.md, "When a rebuild
fails").

A pole must keep warning: a rebuild that cannot be built (``build`` raises ``cannot_start``, the
runner's StartupError: a calendar file that is gone, a board profile, GPIO ...) never ends the
process while a config that ran before can be built again:

- ``apply`` (a new remote config on trial): rolled back to last-known-good (or the local file) as
  the handler does for a config that fails its trial, and reported ``rolled-back`` with the error
  on ``config/reported`` once the agent runs again (the store's note, as a rollback at start-up);
  then the config that was running before, if the rolled-back one cannot be built either;
- ``reload`` (the local file, already checked): the config that was running before; the same
  ``reload`` command is answered again, ``failed`` with the error, by the agent rebuilt with it;
- ``rollback`` (last-known-good, or the local file): the config that was running before.

Only when none of them can be built does ``rebuild`` return None: the runner exits as a failed
start (exit 3), systemd starts a fresh process (``Restart=on-failure``; 5 failed starts in 10 min
reboot the board), and that process starts from the store, already rolled back.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from pole_agent.config import PoleConfig
from pole_agent.remote.boot import effective_config, local_or_remote, roll_back_trial
from pole_agent.remote.store import RemoteStore

log = logging.getLogger(__name__)

RebuildKind = Literal["apply", "rollback", "reload"]


@dataclass(frozen=True)
class NextConfig:
    """What the agent is to be rebuilt with, set by its remote part (``RemoteParts.request``)."""

    kind: RebuildKind
    """``apply``: a remote config just accepted, on trial; ``rollback``: the handler rolled a
    config back; ``reload``: the ``reload`` command, the local file already checked."""
    config: PoleConfig | None = None
    """The config to build with (``reload``: the local file's, to combine with the stored remote
    config as at a start). None only for a ``rollback`` to the local file: the runner re-reads
    the file."""
    command_id: str | None = None
    """``reload``: the command's id, answered again ``failed`` if the agent cannot be built."""

    @property
    def keeps_trial(self) -> bool:
        """The stop before it is not a clean end of the config on trial (it goes on)."""
        return self.kind == "apply"


@dataclass(frozen=True)
class FailedReload:
    """A ``reload`` whose rebuild failed: answered again by the agent that runs instead."""

    command_id: str
    detail: str
    error: str


Agent = TypeVar("Agent")


@dataclass(frozen=True)
class Rebuilt(Generic[Agent]):
    agent: Agent
    config: PoleConfig
    """The config it was built with."""
    local: PoleConfig
    """The local file's checked config from now on (a reload that built changes it)."""
    failed_reload: FailedReload | None = None


def rebuild(
    wanted: NextConfig,
    *,
    running: PoleConfig,
    local: PoleConfig,
    read_local: Callable[[], PoleConfig | None],
    build: Callable[[PoleConfig], Agent],
    cannot_start: type[Exception],
) -> Rebuilt[Agent] | None:
    """Build the agent ``wanted``, else fall back (module doc). ``running``: the config of the
    agent that just stopped; ``local``: the local file's config as last checked; ``read_local``:
    re-reads and checks the file (None, logged, when it has problems). None: nothing could be
    built."""
    target, new_local = _target(wanted, local, read_local)
    try:
        return Rebuilt(build(target), target, new_local)
    except cannot_start as err:
        error = str(err)
    what = _describe(wanted, target)
    log.error("cannot rebuild the agent with %s: %s", what, error)
    failed_reload: FailedReload | None = None
    candidates = [running]
    if wanted.kind == "apply":
        back = _roll_back(local, target.config_version, error)
        candidates.insert(0, back)
    elif wanted.kind == "reload" and wanted.command_id is not None:
        failed_reload = FailedReload(
            wanted.command_id,
            f"the agent could not be built with {what}: {error}; the previous config runs again",
            error,
        )
    tried = [target]
    for candidate in candidates:
        if candidate in tried:
            continue
        tried.append(candidate)
        # What the failed build had opened (GPIO lines: gpiozero closes a device when it is
        # collected) must be free before the next build claims the same lines.
        gc.collect()
        try:
            agent = build(candidate)
        except cannot_start as err:
            log.error(
                "cannot rebuild the agent with config version %s either: %s",
                candidate.config_version,
                err,
            )
            continue
        log.warning("agent rebuilt with config version %s instead", candidate.config_version)
        return Rebuilt(agent, candidate, local, failed_reload)
    log.error("no config this agent ran can be built any more: exiting as a failed start")
    return None


def _target(
    wanted: NextConfig, local: PoleConfig, read_local: Callable[[], PoleConfig | None]
) -> tuple[PoleConfig, PoleConfig]:
    """The config to build, and the local file's config if it builds."""
    if wanted.kind == "reload" and wanted.config is not None:
        return local_or_remote(wanted.config), wanted.config
    if wanted.config is not None:  # a remote config applied, or last-known-good
        return wanted.config, local
    # A rollback to the local file: read it again. Broken while the agent ran: its last good
    # reading is used (a pole must not stop warning over a broken file: reliability row 14).
    reread = read_local()
    if reread is None:
        log.error("rolling back to the local file's config as last read (the file has problems)")
        reread = local
    return local_or_remote(reread), reread


def _describe(wanted: NextConfig, target: PoleConfig) -> str:
    if wanted.kind == "apply":
        return f"remote config v{target.config_version}"
    if wanted.kind == "reload":
        return "the reloaded local config file"
    return f"the rolled-back config (version {target.config_version})"


def _roll_back(local: PoleConfig, version: int, error: str) -> PoleConfig:
    """A remote config that cannot be built fails its trial: back to last-known-good (or the local
    file), reported when the agent runs again; returns the config to build now."""
    store = RemoteStore(local.state_dir)
    applied = store.applied
    if applied is not None and applied.version == version:
        roll_back_trial(store, version, f"the agent could not be built with v{version}: {error}")
    return effective_config(store, local)
