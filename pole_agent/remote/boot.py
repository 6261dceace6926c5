"""What remote management decides when the agent process starts, before anything is built:
which config to run, and whether the remote config on trial has already crashed the agent too
often.

A config that makes the agent die (killed by the watchdog, a crash in a native library, an
out-of-memory kill) before its grace period ends never reaches the handler's rollback, so its
trial is kept on disk (store.py, ``trial.json``): the handler marks it running when it applies or
starts it, and a clean stop unmarks it. A start that finds it still marked counts an unclean end;
at ``[remote].trial_unclean_ends`` of them the config is rolled back to last-known-good (or the
local file) before the agent is built, and the rollback is reported on ``config/reported`` once
the broker can be reached (``RemoteHandler.start``).
"""

from __future__ import annotations

import logging

from pole_agent.config import ConfigError, PoleConfig, parse_config
from pole_agent.remote.store import BootRollback, RemoteStore, Trial

log = logging.getLogger(__name__)


def count_unclean_end(store: RemoteStore, limit: int) -> BootRollback | None:
    """At process start: count an unclean end of the config on trial; at ``limit`` of them, roll
    it back (the returned note is also kept in the store until the handler reports it)."""
    applied, trial, good = store.applied, store.trial, store.last_good
    if applied is None or trial is None or not trial.running or trial.version != applied.version:
        return None
    if good is not None and good.version == applied.version:
        return None
    ends = trial.unclean_ends + 1
    if ends < limit:
        # Still marked running: this start is about to run it again, and if it never gets as
        # far as a clean stop, the next start counts that too.
        store.save_trial(Trial(trial.version, running=True, unclean_ends=ends))
        log.warning(
            "remote config v%s on trial ended uncleanly (%d of %d before a rollback)",
            trial.version,
            ends,
            limit,
        )
        return None
    note = roll_back_trial(
        store,
        trial.version,
        f"the agent ended uncleanly {ends} times within the grace period of v{trial.version}",
    )
    log.error("remote config v%s rolled back at start-up: %s", trial.version, note.reason)
    return note


def roll_back_trial(store: RemoteStore, version: int, why: str) -> BootRollback:
    """Roll the remote config on trial back to last-known-good (or the local file) while no agent
    runs, and keep the note that the next agent's handler reports on ``config/reported`` (and
    counts): at start-up after unclean ends, or when a rebuild with it failed (rebuild.py)."""
    store.roll_back()
    store.save_trial(None)
    back = store.applied.version if store.applied is not None else 0
    note = BootRollback(
        version, f"{why}; back to {'the local config' if back == 0 else f'last-known-good v{back}'}"
    )
    store.note_boot_rollback(note)
    return note


def local_or_remote(local: PoleConfig) -> PoleConfig:
    """The config to start with: the stored remote config when remote management is on. Call
    once per process start (and after a clean stop): a remote config on trial whose last run
    ended uncleanly is counted, and rolled back at ``[remote].trial_unclean_ends``."""
    if not local.remote.enabled or local.mqtt is None:
        return local
    store = RemoteStore(local.state_dir)
    count_unclean_end(store, local.remote.trial_unclean_ends)
    return effective_config(store, local)


def effective_config(store: RemoteStore, local: PoleConfig) -> PoleConfig:
    """The config to run: the stored remote config, else the local file's. A stored config that
    no longer validates (an upgrade changed the model) falls back to last-known-good, then to the
    local file."""
    for stored in (store.applied, store.last_good):
        if stored is None:
            continue
        try:
            config = parse_config(stored.config, f"remote config v{stored.version}")
        except ConfigError as err:
            log.error("stored remote config no longer valid: %s", err)
            continue
        if config.pole_id == local.pole_id:
            return config
    return local
