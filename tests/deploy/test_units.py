"""The systemd units pass ``systemd-analyze verify`` (and a security review), and say what the
issue asks; the journald drop-in caps the journal.

``systemd-analyze`` runs offline against a root that holds the installed units, the agent's
executable (it checks ExecStart= exists) and a copy of systemd's own units (the targets they
refer to). It comes with Debian's ``systemd`` package, which scripts/bootstrap installs; a
machine without it fails these tests with that message: they are never skipped.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, Installed

UNITS = ROOT / "deploy" / "systemd"
SYSTEMD_UNITS = Path("/usr/lib/systemd/system")


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None or not SYSTEMD_UNITS.is_dir():
        pytest.fail(
            "systemd-analyze (Debian package 'systemd') is missing: run scripts/bootstrap, "
            "or apt-get install systemd"
        )
    return found


@pytest.fixture(scope="module")
def verify_root(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root for systemd-analyze: the installed units and release, and systemd's units."""
    systemd_analyze()
    root = tmp_path_factory.mktemp("verify") / "root"
    shutil.copytree(installed.root / "etc", root / "etc", symlinks=True)
    opt = root / "opt/pole-agent"
    release = (installed.root / "opt/pole-agent/current").resolve()
    (opt / "releases" / release.name / "bin").mkdir(parents=True)
    for name in ("pole-agent", "python"):
        shutil.copy2(release / "bin" / name, opt / "releases" / release.name / "bin" / name)
    for link in ("current", "previous"):
        (opt / link).symlink_to(f"releases/{release.name}")
    shutil.copytree(SYSTEMD_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    return root


def analyze(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), *args, f"--root={root}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_units_pass_systemd_analyze_verify(verify_root: Path) -> None:
    units = sorted(str(p) for p in (verify_root / "etc/systemd/system").glob("pole-agent*"))
    assert len(units) == 4
    result = analyze(verify_root, "verify", *units)
    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys and bad values: any word from it is a finding.
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


def test_verify_would_catch_a_mistake(verify_root: Path, tmp_path: Path) -> None:
    """The check above is not vacuous: a typo and a missing executable are reported."""
    unit = (UNITS / "pole-agent.service").read_text()
    broken = verify_root / "etc/systemd/system/pole-agent-broken.service"
    broken.write_text(
        unit.replace("WatchdogSec=30s", "WatchdogSecs=30s").replace(
            "/opt/pole-agent/current/bin/pole-agent", "/opt/pole-agent/nowhere/bin/pole-agent"
        )
    )
    try:
        result = analyze(verify_root, "verify", str(broken))
    finally:
        broken.unlink()
    assert "Unknown key 'WatchdogSecs'" in result.stderr
    assert "is not executable" in result.stderr
    assert result.returncode != 0


def test_the_agent_unit_is_well_sandboxed(verify_root: Path) -> None:
    unit = verify_root / "etc/systemd/system/pole-agent.service"
    result = analyze(verify_root, "security", "--offline=yes", str(unit))
    match = re.search(r"Overall exposure level for pole-agent\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    # 0 (locked down) to 10 (unsafe); this unit scores 1.7 on systemd 252 ("OK").
    assert float(match.group(1)) <= 2.0, result.stdout


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_agent_unit_says_what_the_issue_asks() -> None:
    s = unit_settings("pole-agent.service")
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["30s"]
    assert s["Restart"] == ["on-failure"]
    assert s["StartLimitAction"] == ["reboot"]
    assert s["StartLimitBurst"] and s["StartLimitIntervalSec"]
    assert s["User"] == ["pole-agent"]
    assert s["SupplementaryGroups"] == ["gpio dialout audio"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert s["ProtectHome"] == ["yes"] and s["PrivateTmp"] == ["yes"]
    assert s["ReadWritePaths"] == ["/var/lib/pole-agent"]  # the state, nothing else on disk
    assert s["DevicePolicy"] == ["closed"]
    allowed = set(s["DeviceAllow"])
    assert {"char-ttyACM rw", "char-ttyUSB rw", "char-gpiochip rw", "char-alsa rw"} <= allowed
    assert s["ExecStart"][0].startswith("/opt/pole-agent/current/bin/pole-agent run ")


def test_the_selftest_timer_runs_daily() -> None:
    timer = unit_settings("pole-agent-selftest.timer")
    assert timer["OnCalendar"] == ["*-*-* 02:30:00"]
    assert timer["Persistent"] == ["true"]
    service = unit_settings("pole-agent-selftest.service")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"][0].endswith(
        "pole-agent selftest --config /etc/pole-agent/config.toml"
    )
    # Skipped (not failed) until a release has the selftest command (issue 9).
    assert service["ExecCondition"] == ["/opt/pole-agent/current/bin/pole-agent selftest --help"]


def test_journald_drop_in_caps_the_journal() -> None:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "deploy/journald/50-pole-agent.conf")
    journal = parser["Journal"]
    known = {  # journald.conf(5), systemd 252
        "Storage", "Compress", "Seal", "SplitMode", "SyncIntervalSec", "RateLimitIntervalSec",
        "RateLimitBurst", "SystemMaxUse", "SystemKeepFree", "SystemMaxFileSize",
        "SystemMaxFiles", "RuntimeMaxUse", "RuntimeKeepFree", "RuntimeMaxFileSize",
        "RuntimeMaxFiles", "MaxRetentionSec", "MaxFileSec", "ForwardToSyslog", "ForwardToKMsg",
        "ForwardToConsole", "ForwardToWall", "MaxLevelStore", "MaxLevelSyslog", "ReadKMsg",
        "Audit",
    }  # fmt: skip
    assert set(journal) <= known, set(journal) - known
    assert journal["SystemMaxUse"] == "64M"
    assert journal["RuntimeMaxUse"] == "16M"
    assert journal["Storage"] == "persistent"
