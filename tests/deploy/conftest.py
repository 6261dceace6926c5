"""Fixtures of the deploy tests: wheels of the agent built offline from a copy of this checkout,
release signing keys, and an install into a throwaway root."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from pole_agent import __version__

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "install.py"
#: Release venvs in tests get only the pole_agent wheel; its dependencies come from here.
DEPS_PATH = sysconfig.get_paths()["purelib"]
#: pip reads its options from the environment: no dependencies, no index (no network).
OFFLINE_PIP = {"PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1"}

BuildWheel = Callable[..., Path]


def _bump(version: str, step: int) -> str:
    parts = [int(x) for x in version.split(".")[:3]]
    parts[-1] += step
    return ".".join(str(p) for p in parts)


@pytest.fixture(scope="session")
def build_wheel(tmp_path_factory: pytest.TempPathFactory) -> BuildWheel:
    """Build the agent's wheel from a copy of the checkout, with another version and an extra
    ``__main__`` prelude if asked (a release that crashes, or whose pipeline sticks)."""
    cache: dict[tuple[str, str], Path] = {}

    def build(version: str = __version__, prelude: str = "") -> Path:
        key = (version, prelude)
        if key in cache:
            return cache[key]
        work = tmp_path_factory.mktemp(f"wheel-{version}")
        src = work / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in ("pole_agent", "simulator"):
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        init = src / "pole_agent" / "__init__.py"
        text = init.read_text(encoding="utf-8")
        init.write_text(
            text.replace(f'__version__ = "{__version__}"', f'__version__ = "{version}"'),
            encoding="utf-8",
        )
        if prelude:
            main = src / "pole_agent" / "__main__.py"
            main.write_text(prelude + "\n" + main.read_text(encoding="utf-8"), encoding="utf-8")
        out = work / "dist"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "-w",
                str(out),
                str(src),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        (wheel,) = out.glob("pole_agent-*.whl")
        assert wheel.name.startswith(f"pole_agent-{version}-"), wheel.name
        cache[key] = wheel
        return wheel

    return build


@pytest.fixture(scope="session")
def next_version() -> Callable[[int], str]:
    return lambda step: _bump(__version__, step)


def run_install(
    root: Path, *args: str, plan: Path | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(INSTALL), "--root", str(root), *args]
    if plan is not None:
        cmd += ["--plan-file", str(plan)]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, **OFFLINE_PIP},
        cwd=root.parent,
    )


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its type, mode and content hash (or link target)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            mode = f"{st.st_mode & 0o7777:04o}"
            if path.is_symlink():
                out[rel] = f"link {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = f"dir {mode}"
            else:
                out[rel] = f"file {mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return out


class Installed:
    """A pole installed into a throwaway root by deploy/install.py."""

    def __init__(self, root: Path, first: subprocess.CompletedProcess[str], keys: Path) -> None:
        self.root = root
        self.first = first
        self.keys = keys
        self.digest_after_first = tree_digest(root)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, build_wheel: BuildWheel) -> Installed:
    from pole_agent.release import generate_keypair

    work = tmp_path_factory.mktemp("installed")
    keys = work / "keys"
    generate_keypair(keys, "city-2026")
    root = work / "root"
    root.mkdir()
    first = run_install(
        root,
        "--wheel",
        str(build_wheel()),
        "--release-key",
        str(keys / "city-2026.pub"),
        plan=work / "plan-1.sh",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    return Installed(root, first, keys)
