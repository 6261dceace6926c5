"""Install the S-Pole agent on a Debian / Raspberry Pi OS board (run by deploy/install.sh).

Standard library only: it runs with the system's python3 before any virtual environment exists.
Idempotent: every step compares before it writes, so a second run changes nothing. With
``--root DIR`` it lays the tree down under DIR and *plans* the steps that act on the running
system (users, groups, ownership, systemctl, udevadm) instead of doing them: they are printed,
and written to ``--plan-file`` as a shell script whose every line is guarded (safe to run twice).
Without ``--root`` it must run as root, and it runs that plan itself.

What it lays down (see docs/installer.md and docs/operations.md)::

    /opt/pole-agent/releases/<version>/  a virtual environment with the agent (one per release)
    /opt/pole-agent/current -> releases/<version>
    /etc/pole-agent/config.toml          copied from deploy/config/pole.example.toml if absent
    /etc/pole-agent/secrets/             0700, files 0600, owned by the agent's user
    /etc/pole-agent/release-keys/*.pub   public keys whose signed updates the pole accepts
    /var/lib/pole-agent/                 the agent's state (0750, the agent's user)
    /var/lib/pole-agent-update/          the updater's state (0700, root)
    /etc/systemd/system/pole-agent*.{service,timer}, journald drop-in, udev rules from hw/udev
    /usr/share/pole-agent/hw/boards/     the shipped board profiles
    /usr/share/doc/pole-agent/           operations.md, installer.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

USER = "pole-agent"
GROUPS = ("gpio", "dialout", "audio")
UNITS = (
    "pole-agent.service",
    "pole-agent-selftest.service",
    "pole-agent-selftest.timer",
    "pole-agent-update-recover.service",
)
ENABLE = ("pole-agent.service", "pole-agent-selftest.timer", "pole-agent-update-recover.service")
MARKER = ".release.json"
WHEEL_NAME = re.compile(r"^pole_agent-(?P<version>[0-9][^-]*)-.+\.whl$")
SDIST_NAME = re.compile(r"^pole_agent-(?P<version>[0-9][^-]*)\.tar\.gz$")


class InstallError(Exception):
    """The install cannot go on; the message says what to do."""


@dataclass
class Installer:
    root: Path
    source: Path
    python: str
    plan: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def target(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    # -- idempotent primitives ---------------------------------------------------------------

    def directory(self, path: str, mode: int, owner: str | None = None) -> None:
        target = self.target(path)
        if not target.is_dir():
            target.mkdir(parents=True)
            self.changed.append(f"mkdir {path}")
        self._mode(target, path, mode)
        if owner:
            self.plan.append(f"chown {owner} {shlex.quote(path)}")

    def file(
        self, path: str, content: bytes, mode: int, owner: str | None = None, replace: bool = True
    ) -> None:
        """Write ``content`` if the file differs (or, with ``replace`` False, only if absent)."""
        target = self.target(path)
        if not target.exists() or (replace and target.read_bytes() != content):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            with tmp.open("wb") as handle:  # write, fsync, rename: whole or not at all
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
            self.changed.append(f"write {path}")
        self._mode(target, path, mode)
        if owner:
            self.plan.append(f"chown {owner} {shlex.quote(path)}")

    def symlink(self, path: str, link_target: str) -> None:
        target = self.target(path)
        if target.is_symlink() and os.readlink(target) == link_target:
            return
        tmp = target.with_name(f".{target.name}.new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(link_target, tmp)
        os.replace(tmp, target)
        self.changed.append(f"link {path} -> {link_target}")

    def _mode(self, target: Path, path: str, mode: int) -> None:
        if target.stat().st_mode & 0o7777 != mode:
            os.chmod(target, mode)
            self.changed.append(f"chmod {mode:04o} {path}")

    # -- the steps ---------------------------------------------------------------------------

    def accounts(self) -> None:
        for group in (*GROUPS, USER):
            self.plan.append(f"getent group {group} >/dev/null || groupadd --system {group}")
        self.plan.append(
            f"id -u {USER} >/dev/null 2>&1 || useradd --system --gid {USER} "
            f"--home-dir /var/lib/{USER} --no-create-home --shell /usr/sbin/nologin {USER}"
        )
        self.plan.append(f"usermod --append --groups {','.join(GROUPS)} {USER}")

    def layout(self, release_keys: list[Path]) -> None:
        self.directory("/opt/pole-agent", 0o755)
        self.directory("/opt/pole-agent/releases", 0o755)
        self.directory("/etc/pole-agent", 0o750, f"root:{USER}")
        self.directory("/etc/pole-agent/secrets", 0o700, f"{USER}:{USER}")
        secrets = self.target("/etc/pole-agent/secrets")
        for secret in sorted(p for p in secrets.iterdir() if p.is_file()):
            self._mode(secret, f"/etc/pole-agent/secrets/{secret.name}", 0o600)
            self.plan.append(f"chown {USER}:{USER} /etc/pole-agent/secrets/{secret.name}")
        self.directory("/etc/pole-agent/tls", 0o750, f"root:{USER}")
        self.directory("/etc/pole-agent/hw/boards", 0o755)
        self.directory("/etc/pole-agent/release-keys", 0o755)
        for key in release_keys:
            text = key.read_bytes()
            if b"-----BEGIN PUBLIC KEY-----" not in text:
                raise InstallError(f"--release-key {key}: not a PEM public key (NAME.pub)")
            self.file(f"/etc/pole-agent/release-keys/{key.stem}.pub", text, 0o644)
        example = self.source / "deploy" / "config" / "pole.example.toml"
        self.file(
            "/etc/pole-agent/config.toml",
            example.read_bytes(),
            0o640,
            f"root:{USER}",
            replace=False,
        )
        self.directory("/var/lib/pole-agent", 0o750, f"{USER}:{USER}")
        self.directory("/var/lib/pole-agent-update", 0o700)
        self.directory("/usr/share/pole-agent/hw/boards", 0o755)
        for profile in sorted((self.source / "hw" / "boards").glob("*.toml")):
            self.file(
                f"/usr/share/pole-agent/hw/boards/{profile.name}", profile.read_bytes(), 0o644
            )
        self.directory("/usr/share/doc/pole-agent", 0o755)
        for doc in ("operations.md", "installer.md"):
            path = self.source / "docs" / doc
            if path.is_file():
                self.file(f"/usr/share/doc/pole-agent/{doc}", path.read_bytes(), 0o644)

    def system_files(self) -> None:
        before = len(self.changed)
        self.directory("/etc/systemd/system", 0o755)
        for unit in UNITS:
            content = (self.source / "deploy" / "systemd" / unit).read_bytes()
            self.file(f"/etc/systemd/system/{unit}", content, 0o644)
        self.plan.append("systemctl daemon-reload")
        self.plan.append(f"systemctl enable {' '.join(ENABLE)}")
        journald = self.source / "deploy" / "journald" / "50-pole-agent.conf"
        self.directory("/etc/systemd/journald.conf.d", 0o755)
        self.file("/etc/systemd/journald.conf.d/50-pole-agent.conf", journald.read_bytes(), 0o644)
        if len(self.changed) > before:
            self.plan.append("systemctl restart systemd-journald")
        rules = sorted((self.source / "hw" / "udev").glob("*.rules"))
        if rules:
            before = len(self.changed)
            self.directory("/etc/udev/rules.d", 0o755)
            self.directory("/usr/share/pole-agent/udev", 0o755)
            for rule in rules:
                # The rules are edited at commissioning (the radars' serial numbers): like the
                # config, an installed rule is kept; the shipped one is always beside it.
                shipped = f"/usr/share/pole-agent/udev/{rule.name}"
                self.file(shipped, rule.read_bytes(), 0o644)
                installed = f"/etc/udev/rules.d/{rule.name}"
                self.file(installed, rule.read_bytes(), 0o644, replace=False)
                if self.target(installed).read_bytes() != rule.read_bytes():
                    print(f"install: note: kept the edited {installed} (shipped: {shipped})")
            if len(self.changed) > before:
                self.plan.append("udevadm control --reload")
                self.plan.append("udevadm trigger --subsystem-match=tty --action=change")
        else:
            print("install: note: no udev rules in hw/udev: /dev/radar-* links will be missing")

    def release(self, package: Path, find_links: list[Path], reinstall: bool) -> str:
        version = package_version(package)
        path = f"/opt/pole-agent/releases/{version}"
        target = self.target(path)
        digest = hashlib.sha256(package.read_bytes()).hexdigest()
        marker = target / MARKER
        if marker.is_file() and not reinstall:
            recorded = json.loads(marker.read_text(encoding="utf-8")).get("source", "")
            if digest not in recorded:
                print(
                    f"install: note: release {version} is installed from another build; "
                    "pass --reinstall to replace it"
                )
        else:
            self._make_release(target, package, find_links)
            marker.write_text(
                json.dumps(
                    {
                        "version": version,
                        "requirement": f"pole-agent=={version}",
                        "source": f"{package.name} sha256:{digest}",
                    },
                    sort_keys=True,
                )
                + "\n",
                encoding="utf-8",
            )
            self.changed.append(f"release {version}")
        current = self.target("/opt/pole-agent/current")
        if current.is_symlink() and os.readlink(current) != f"releases/{version}":
            self.symlink("/opt/pole-agent/previous", os.readlink(current))
        self.symlink("/opt/pole-agent/current", f"releases/{version}")
        return version

    def _make_release(self, target: Path, package: Path, find_links: list[Path]) -> None:
        if target.exists():
            shutil.rmtree(target)
        pip = [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-cache-dir",
        ]
        if find_links:
            pip.append("--no-index")
            for folder in find_links:
                pip += ["--find-links", str(folder)]
        pip.append(str(package))
        for step in ([self.python, "-m", "venv", str(target)], pip):
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                hint = ""
                if step[1:3] == ["-m", "venv"]:
                    hint = " (on Debian: apt-get install python3-venv)"
                raise InstallError(
                    f"`{' '.join(step[:4])} ...` failed{hint}: {result.stderr.strip()[-800:]}"
                )


def package_version(package: Path) -> str:
    match = WHEEL_NAME.match(package.name) or SDIST_NAME.match(package.name)
    if match is None or not package.is_file():
        raise InstallError(f"{package}: not a pole_agent wheel or sdist file")
    return match.group("version")


def build_wheel(source: Path, python: str, out: Path) -> Path:
    """Build the agent's wheel from a checkout (needs pip with network, or a local index)."""
    result = subprocess.run(
        [python, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(out.glob("pole_agent-*.whl"))
    if result.returncode != 0 or not wheels:
        raise InstallError(
            f"building the wheel from {source} failed: {result.stderr.strip()[-800:]} "
            "(or pass --wheel FILE)"
        )
    return wheels[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deploy/install.sh", description="Install the S-Pole agent on this board."
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="lay the tree down under DIR and only plan the system steps (for tests and staging)",
    )
    parser.add_argument(
        "--wheel", type=Path, default=None, help="install this pole_agent wheel or sdist"
    )
    parser.add_argument(
        "--find-links",
        type=Path,
        action="append",
        default=[],
        help="a folder of dependency wheels: install offline from it (no index)",
    )
    parser.add_argument(
        "--release-key",
        type=Path,
        action="append",
        default=[],
        help="a public key (NAME.pub) whose signed updates this pole accepts",
    )
    parser.add_argument("--plan-file", type=Path, default=None, help="write the system steps here")
    parser.add_argument("--reinstall", action="store_true", help="rebuild the release's venv")
    parser.add_argument(
        "--python", default=sys.executable, help="the Python that makes the venv (3.11+)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    live = args.root is None
    if live and os.geteuid() != 0:
        print("install: run as root (or pass --root DIR to stage into a folder)", file=sys.stderr)
        return 1
    root = Path("/") if live else args.root.resolve()
    source = Path(__file__).resolve().parents[1]
    installer = Installer(root=root, source=source, python=args.python)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            package = args.wheel or build_wheel(source, args.python, Path(tmp))
            package_version(package)
            for key in args.release_key:
                if not key.is_file():
                    raise InstallError(f"--release-key {key}: no such file")
            installer.accounts()
            installer.layout(args.release_key)
            version = installer.release(package.resolve(), args.find_links, args.reinstall)
            installer.system_files()
    except (InstallError, OSError) as err:
        print(f"install: {err}", file=sys.stderr)
        return 1
    script = "#!/bin/sh\n# System steps of the pole-agent install (each safe to repeat).\nset -e\n"
    script += "".join(f"{line}\n" for line in installer.plan)
    if args.plan_file:
        args.plan_file.write_text(script, encoding="utf-8")
    for line in installer.changed:
        print(f"changed: {line}")
    if live:
        for line in installer.plan:
            print(f"run: {line}")
            result = subprocess.run(["sh", "-c", line], check=False)
            if result.returncode != 0:
                print(f"install: failed: {line}", file=sys.stderr)
                return 1
    else:
        for line in installer.plan:
            print(f"plan: {line}")
    state = "changed" if installer.changed else "unchanged"
    print(
        f"install: pole-agent {version} under {root}: {state} ({len(installer.changed)} change(s))"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
