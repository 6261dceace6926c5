"""Step 7 of `pole-agent commission`: the pole's MQTT password is its own.

Refused: a missing, default or short password, and one that another pole already uses. The
second needs the fleet's password hashes: the city's Mosquitto password file (``user:$7$...``
lines, as ``pole-agent fleet ca issue`` writes it) or a plain list of ``$7$`` hashes, one a line,
given with ``--fleet-passwords FILE`` or ``[secrets] fleet_passwords`` in the answers file. Each
hash is salted, so the check hashes this pole's password with every entry's salt (PBKDF2, a few
milliseconds each). When the installer types a new password, it is written to the configured
``password_file`` with mode 0600, atomically.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pole_agent.atomic_file import write_atomic
from pole_agent.config import PoleConfig
from pole_agent.fleet.credentials import check_password, read_password_file
from pole_agent.installer.prompts import AnswerError, Prompter
from pole_agent.installer.report import CheckResult

DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "password", "secret", "admin", "spole", "pole-agent", "test"}
)
MIN_SECRET_LEN = 12
NAME = "secrets"


@dataclass(frozen=True)
class FleetHashes:
    """Known password hashes: by owner (a password file) and of unknown owner (a hash list)."""

    by_user: dict[str, str]
    anonymous: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> FleetHashes:
        """Raises OSError when unreadable, ValueError when no line is a ``$7$`` hash."""
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        by_user = {u: h for u, h in read_password_file(path).items() if h.startswith("$7$")}
        anonymous = tuple(
            line.strip()
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("$7$")
        )
        if not by_user and not anonymous:
            raise ValueError(f"{path}: no Mosquitto $7$ password hash in it")
        return cls(by_user, anonymous)

    def owners_of(self, password: str, me: str) -> tuple[list[str], bool | None]:
        """Who else uses ``password`` ("a pole of the list" for an anonymous hash), and whether
        ``me``'s own entry matches it (None: ``me`` has no entry)."""
        others = [u for u, h in self.by_user.items() if u != me and check_password(password, h)]
        others += ["a pole of the list"] * sum(check_password(password, h) for h in self.anonymous)
        mine = self.by_user.get(me)
        return others, None if mine is None else check_password(password, mine)


def weakness(secret: str, user: str, pole_id: str) -> str | None:
    """Why ``secret`` is not a pole's own password, or None."""
    if secret.lower() in DEFAULT_SECRETS or secret in (user, pole_id):
        return "a default one"
    if len(secret) < MIN_SECRET_LEN:
        return f"shorter than {MIN_SECRET_LEN} characters"
    return None


def _fail(detail: str, fix: str) -> list[CheckResult]:
    return [CheckResult(name=NAME, outcome="fail", detail=detail, fix=fix)]


def secrets_step(
    config: PoleConfig, ask: Prompter, fleet_passwords: Path | None
) -> list[CheckResult]:
    """The checks; a typed password replaces a missing or weak one (written only if it passes)."""
    mqtt = config.mqtt
    if mqtt is None:
        return _fail("no [mqtt]: the pole would report to no one", "configure [mqtt]")
    if mqtt.password_file is None:
        return _fail("no mqtt.password_file", "name the pole's password file (0600) in [mqtt]")
    user = config.mqtt_username or config.pole_id
    path = mqtt.password_file
    try:
        secret: str | None = path.read_text(encoding="utf-8").strip()
    except OSError:
        secret = None
    typed = False
    why = "missing" if secret is None else weakness(secret, user, config.pole_id)
    if why is not None:
        ask.say(f"   the MQTT password in {path} is {why}: enter the pole's own password")
        try:
            secret = ask.secret("mqtt_password", f"MQTT password for {user} (not shown)?").strip()
        except AnswerError:
            secret = None
        if not secret:
            return _fail(
                f"the MQTT password in {path} is {why}, and no other was given",
                "issue this pole its own password (`pole-agent fleet ca issue`) and enter it",
            )
        typed = True
        why = weakness(secret, user, config.pole_id)
        if why is not None:
            return _fail(f"the password typed is {why}", "issue this pole its own password")
    assert secret is not None
    results = [_fleet_check(secret, user, fleet_passwords)]
    if results[0].outcome == "fail":
        return results
    if typed:
        write_atomic(path, (secret + "\n").encode(), 0o600)
        results.append(
            CheckResult(name="password file", outcome="pass", detail=f"written: {path} (0600)")
        )
    else:
        results.append(_private("password file", path))
    key = mqtt.tls.key_file if mqtt.tls is not None else None
    if key is not None:
        results.append(_private("TLS key file", key))
    return results


def _fleet_check(secret: str, user: str, fleet_passwords: Path | None) -> CheckResult:
    if fleet_passwords is None:
        return CheckResult(
            name=NAME,
            outcome="warn",
            detail=f"own password for {user}; not compared with the fleet's (no list given)",
            fix="give --fleet-passwords FILE (the city's password file) to check it is not shared",
        )
    try:
        fleet = FleetHashes.load(fleet_passwords)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        return CheckResult(
            name=NAME,
            outcome="fail",
            detail=f"cannot read the fleet's passwords: {err}",
            fix="give the city's Mosquitto password file or a list of $7$ hashes",
        )
    others, mine = fleet.owners_of(secret, user)
    if others:
        return CheckResult(
            name=NAME,
            outcome="fail",
            detail=f"the MQTT password is shared: also used by {', '.join(sorted(set(others)))}",
            fix="issue this pole its own password (`pole-agent fleet ca issue`)",
        )
    if mine is False:
        return CheckResult(
            name=NAME,
            outcome="fail",
            detail=f"the fleet's password file has another password for {user}",
            fix="enter the password the city issued to this pole, or issue it again",
        )
    count = len([u for u in fleet.by_user if u != user]) + len(fleet.anonymous)
    held = "matches its entry" if mine else "has no entry yet (the broker will refuse it)"
    return CheckResult(
        name=NAME,
        outcome="pass" if mine else "warn",
        detail=f"own password for {user}: none of the {count} other pole(s) in the fleet's file "
        f"uses it; the file {held}",
        fix="" if mine else "add the pole to the broker's password file",
    )


def _private(name: str, path: Path) -> CheckResult:
    """A secret file must be readable by its owner only; a looser one is tightened and said so."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as err:
        return CheckResult(
            name=name, outcome="fail", detail=f"{path}: {err}", fix="create it, 0600"
        )
    if mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError as err:
            return CheckResult(
                name=name,
                outcome="fail",
                detail=f"{path} is {mode:04o}: {err}",
                fix=f"chmod 600 {path}",
            )
        return CheckResult(name=name, outcome="pass", detail=f"{path} was {mode:04o}, now 0600")
    return CheckResult(name=name, outcome="pass", detail=f"{path} ({mode:04o})")
