"""deploy/install.py into a throwaway root: what it lays down, twice, with nothing changed the
second time."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from pole_agent import __version__
from tests.deploy.conftest import (
    OFFLINE_PIP,
    ROOT,
    BuildWheel,
    Installed,
    run_install,
    tree_digest,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_install_lays_down_the_pole(installed: Installed) -> None:
    root = installed.root
    opt = root / "opt/pole-agent"
    assert (opt / "current").is_symlink()
    assert str((opt / "current").readlink()) == f"releases/{__version__}"
    release = opt / "releases" / __version__
    marker = json.loads((release / ".release.json").read_text())
    assert marker["version"] == __version__
    assert marker["source"].startswith(f"pole_agent-{__version__}-")
    # The release's own venv runs the agent from its own site-packages.
    probe = subprocess.run(
        [str(opt / "current/bin/python"), "-c", "import pole_agent; print(pole_agent.__file__)"],
        capture_output=True, text=True, check=True, cwd=root,
    )  # fmt: skip
    assert Path(probe.stdout.strip()).resolve().is_relative_to(release)
    assert (opt / "current/bin/pole-agent").is_file()

    etc = root / "etc/pole-agent"
    example = (ROOT / "deploy/config/pole.example.toml").read_bytes()
    assert (etc / "config.toml").read_bytes() == example
    assert mode(etc / "config.toml") == 0o640
    assert mode(etc) == 0o750
    assert mode(etc / "secrets") == 0o700
    assert list((etc / "secrets").iterdir()) == []  # never a default secret
    assert (etc / "release-keys/city-2026.pub").read_bytes() == (
        installed.keys / "city-2026.pub"
    ).read_bytes()
    assert mode(root / "var/lib/pole-agent") == 0o750
    assert mode(root / "var/lib/pole-agent-update") == 0o700

    units = root / "etc/systemd/system"
    for unit in (ROOT / "deploy/systemd").iterdir():
        assert (units / unit.name).read_bytes() == unit.read_bytes()
        assert mode(units / unit.name) == 0o644
    journald = root / "etc/systemd/journald.conf.d/50-pole-agent.conf"
    assert journald.read_bytes() == (ROOT / "deploy/journald/50-pole-agent.conf").read_bytes()
    for rule in (ROOT / "hw/udev").glob("*.rules"):
        assert (root / "etc/udev/rules.d" / rule.name).read_bytes() == rule.read_bytes()
    for profile in (ROOT / "hw/boards").glob("*.toml"):
        shipped = root / "usr/share/pole-agent/hw/boards" / profile.name
        assert shipped.read_bytes() == profile.read_bytes()


def test_system_steps_are_planned_not_done(installed: Installed) -> None:
    plan = (installed.root.parent / "plan-1.sh").read_text()
    lines = plan.splitlines()
    assert lines[0] == "#!/bin/sh"
    for group in ("gpio", "dialout", "audio", "pole-agent"):
        assert f"getent group {group} >/dev/null || groupadd --system {group}" in lines
    assert any(
        line.startswith("id -u pole-agent ") and "useradd --system" in line for line in lines
    )
    assert "usermod --append --groups gpio,dialout,audio pole-agent" in lines
    assert "chown pole-agent:pole-agent /etc/pole-agent/secrets" in lines
    assert "chown pole-agent:pole-agent /var/lib/pole-agent" in lines
    assert (
        "systemctl enable pole-agent.service pole-agent-selftest.timer "
        "pole-agent-update-recover.service"
    ) in lines
    # Users and groups come before the ownership that needs them, daemon-reload before enable.
    assert lines.index("usermod --append --groups gpio,dialout,audio pole-agent") < lines.index(
        "chown pole-agent:pole-agent /var/lib/pole-agent"
    )
    assert lines.index("systemctl daemon-reload") < next(
        i for i, line in enumerate(lines) if line.startswith("systemctl enable")
    )
    # Nothing of it was done to this machine: only under the root.
    out = installed.first.stdout
    assert "plan: usermod --append --groups gpio,dialout,audio pole-agent" in out


def test_a_second_run_changes_nothing(installed: Installed, build_wheel: BuildWheel) -> None:
    again = run_install(
        installed.root,
        "--wheel",
        str(build_wheel()),
        "--release-key",
        str(installed.keys / "city-2026.pub"),
    )
    assert again.returncode == 0, again.stderr
    assert "unchanged (0 change(s))" in again.stdout, again.stdout
    assert tree_digest(installed.root) == installed.digest_after_first


def test_keeps_the_installers_config_and_fixes_secret_modes(
    tmp_path: Path, build_wheel: BuildWheel
) -> None:
    root = tmp_path / "root"
    etc = root / "etc/pole-agent"
    (etc / "secrets").mkdir(parents=True)
    (etc / "config.toml").write_text('pole_id = "seoul-0042"\n')
    secret = etc / "secrets/mqtt-password"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    (etc / "secrets").chmod(0o755)
    result = run_install(root, "--wheel", str(build_wheel()))
    assert result.returncode == 0, result.stderr
    assert (etc / "config.toml").read_text() == 'pole_id = "seoul-0042"\n'
    assert mode(secret) == 0o600
    assert mode(etc / "secrets") == 0o700
    assert "chown pole-agent:pole-agent /etc/pole-agent/secrets/mqtt-password" in result.stdout


def test_installs_the_radar_udev_rules(tmp_path: Path, build_wheel: BuildWheel) -> None:
    """From a checkout whose hw/udev has a rule (the radar work writes the real ones)."""
    src = tmp_path / "src"
    for name in ("deploy", "hw", "docs"):
        shutil.copytree(ROOT / name, src / name)
    udev = src / "hw/udev"
    udev.mkdir(exist_ok=True)
    rule = udev / "99-test-radar.rules"
    rule.write_text('SUBSYSTEM=="tty", ATTRS{idVendor}=="0483", SYMLINK+="radar-road"\n')
    root = tmp_path / "root"
    root.mkdir()
    # -I -S: no site-packages at all, which shows the installer needs only the standard library.
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(src / "deploy/install.py"), "--root", str(root),
         "--wheel", str(build_wheel())],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, **OFFLINE_PIP},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    installed = root / "etc/udev/rules.d/99-test-radar.rules"
    assert installed.read_bytes() == rule.read_bytes()
    assert "plan: udevadm control --reload" in result.stdout

    # Commissioning writes the sensor's serial number in the rule: a later install keeps it.
    edited = rule.read_text().replace("0483", '0483", ATTRS{serial}=="ABC123')
    installed.write_text(edited)
    again = subprocess.run(
        result.args, capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, **OFFLINE_PIP},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert installed.read_text() == edited
    assert "kept the edited /etc/udev/rules.d/99-test-radar.rules" in again.stdout
    shipped = root / "usr/share/pole-agent/udev/99-test-radar.rules"
    assert shipped.read_bytes() == rule.read_bytes()


def test_refuses_bad_input_before_touching_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    missing = run_install(root, "--wheel", str(tmp_path / "pole_agent-9.9.9-py3-none-any.whl"))
    assert missing.returncode == 1
    assert "not a pole_agent wheel or sdist file" in missing.stderr
    not_a_key = tmp_path / "key.pub"
    not_a_key.write_text("hello")
    wheel = tmp_path / "pole_agent-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"")
    bad_key = run_install(root, "--wheel", str(wheel), "--release-key", str(tmp_path / "nope.pub"))
    assert bad_key.returncode == 1
    assert "no such file" in bad_key.stderr
    assert list(root.iterdir()) == []
