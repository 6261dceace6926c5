"""Where releases live on a pole, and the atomic file-system steps the updater takes there.

The layout (under a root, ``/`` on a pole, a throwaway folder in tests) is described in
pole_agent/updater.py; deploy/install.py lays down the same one (it cannot import this module:
it runs before any virtual environment exists).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = ".release.json"


class ReleaseInstallError(Exception):
    """A release could not be installed; nothing was switched."""


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def base(self) -> Path:
        return self.root / "opt" / "pole-agent"

    @property
    def releases(self) -> Path:
        return self.base / "releases"

    @property
    def current(self) -> Path:
        return self.base / "current"

    @property
    def previous(self) -> Path:
        return self.base / "previous"

    @property
    def keys(self) -> Path:
        return self.root / "etc" / "pole-agent" / "release-keys"

    @property
    def state(self) -> Path:
        return self.root / "var" / "lib" / "pole-agent-update"

    @property
    def pending(self) -> Path:
        return self.state / "pending.json"

    @property
    def history(self) -> Path:
        return self.state / "history.jsonl"

    def release(self, version: str) -> Path:
        return self.releases / version

    def link_version(self, link: Path) -> str | None:
        """The version a link points to, if it points to an installed release."""
        try:
            target = os.readlink(link)
        except OSError:
            return None
        version = Path(target).name
        return version if (self.release(version) / MARKER).is_file() else None

    def installed(self) -> list[str]:
        if not self.releases.is_dir():
            return []
        return sorted(p.name for p in self.releases.iterdir() if (p / MARKER).is_file())


# -- small file-system steps, each atomic ------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def switch_link(link: Path, version: str) -> None:
    """Point ``link`` at ``releases/<version>`` (relative) in one rename."""
    tmp = link.with_name(f".{link.name}.new")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(f"releases/{version}", tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def remove_pending(layout: Layout) -> None:
    if layout.pending.exists():
        layout.pending.unlink()
        _fsync_dir(layout.pending.parent)


def install_release(
    layout: Layout, version: str, requirement: str, wheels_dir: Path, *, python: str, source: str
) -> Path:
    """Make ``releases/<version>``: a virtual environment with ``requirement`` installed from
    ``wheels_dir`` only (no index). The marker file is written last: a release without it is an
    interrupted install and is made again."""
    target = layout.release(version)
    if target.exists():
        shutil.rmtree(target)
    layout.releases.mkdir(parents=True, exist_ok=True)
    steps = [
        [python, "-m", "venv", str(target)],
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--find-links",
            str(wheels_dir),
            requirement,
        ],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise ReleaseInstallError(
                f"installing {version} failed at `{' '.join(step[:4])} ...`: {' | '.join(tail)}"
            )
    write_json_atomic(
        target / MARKER,
        {"version": version, "requirement": requirement, "source": source},
    )
    return target
