"""``pole-agent release ...`` (on the build machine) and ``pole-agent update ...`` (on the pole).

Exit codes (docs/operations.md): 0 done (or nothing to do); 1 refused (bad signature or hash,
unknown key, downgrade, an update already pending) or the update could not be installed, with
nothing switched; 2 usage; 4 the new release was unhealthy and was rolled back; 5 rolled back
but the previous release is not healthy either (the pole needs a person).

The modules behind these commands are imported only when a command runs, so ``pole-agent run``
never loads ``cryptography``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ROLLED_BACK = 4
EXIT_ROLLBACK_UNHEALTHY = 5

DEFAULT_KEYS = Path("/etc/pole-agent/release-keys")


def add_release_commands(sub: Any) -> None:
    release = sub.add_parser("release", help="make signed release artefacts (build machine)")
    actions = release.add_subparsers(dest="release_command", required=True, metavar="ACTION")

    keygen = actions.add_parser("keygen", help="make an Ed25519 signing key pair")
    keygen.add_argument("--dir", type=Path, required=True, help="where to write NAME.key/.pub")
    keygen.add_argument("--name", default="release", help="key name (default: release)")
    keygen.set_defaults(func=cmd_keygen)

    build = actions.add_parser("build", help="sign wheels into a release artefact")
    build.add_argument("--wheels", type=Path, required=True, help="folder of *.whl (all deps)")
    build.add_argument("--key", type=Path, required=True, help="private key (NAME.key)")
    build.add_argument("--out", type=Path, required=True, help="artefact to write (.tar)")
    build.add_argument("--extras", default="", help="extras to install on the pole, e.g. pi")
    build.set_defaults(func=cmd_build)

    verify = actions.add_parser("verify", help="check an artefact's signature and files")
    verify.add_argument("artefact", type=Path)
    verify.add_argument("--keys", type=Path, default=DEFAULT_KEYS, help="folder of *.pub")
    verify.set_defaults(func=cmd_verify)


def add_update_commands(sub: Any) -> None:
    update = sub.add_parser("update", help="install, roll back and inspect releases (on a pole)")
    actions = update.add_subparsers(dest="update_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--root", type=Path, default=Path("/"), help="file-system root")
        parser.add_argument("--unit", default="pole-agent.service", help="the agent's unit")
        parser.add_argument(
            "--grace", type=float, default=90.0, help="seconds the new release must stay healthy"
        )

    apply = actions.add_parser(
        "apply", help="verify, install beside, switch, watch, keep or roll back"
    )
    apply.add_argument("artefact", type=Path)
    apply.add_argument("--allow-downgrade", action="store_true", help="accept an older version")
    common(apply)
    apply.set_defaults(func=cmd_apply)

    for name, func, text in (
        ("status", cmd_status, "show releases, the pending update and recent history"),
        ("rollback", cmd_rollback, "switch back to the previous release and restart"),
        ("recover", cmd_recover, "at boot: roll back an update that was never confirmed"),
    ):
        parser = actions.add_parser(name, help=text)
        common(parser)
        parser.set_defaults(func=func)


def cmd_keygen(args: argparse.Namespace) -> int:
    from pole_agent.release import generate_keypair  # noqa: PLC0415

    try:
        key, pub = generate_keypair(args.dir, args.name)
    except (OSError, ValueError) as err:
        print(f"keygen: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"private key: {key} (keep it off the poles, mode 0600)")
    print(f"public key:  {pub} (install on poles: deploy/install.sh --release-key {pub})")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from pole_agent.release import build_artefact  # noqa: PLC0415

    wheels = sorted(args.wheels.glob("*.whl"))
    try:
        manifest = build_artefact(wheels, args.key, args.out, extras=args.extras)
    except (OSError, ValueError) as err:
        print(f"build: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{args.out}: {manifest.requirement}, {len(manifest.files)} wheel(s), signed")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from pole_agent.release import ReleaseRefusedError, verify_artefact  # noqa: PLC0415

    try:
        verified = verify_artefact(args.artefact, args.keys)
    except ReleaseRefusedError as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"ok: {verified.manifest.requirement}, signed by key '{verified.key_name}'")
    return EXIT_OK


def _updater(args: argparse.Namespace) -> Any:
    from pole_agent.clock import SystemClock  # noqa: PLC0415
    from pole_agent.release_layout import Layout  # noqa: PLC0415
    from pole_agent.service_control import SystemdService  # noqa: PLC0415
    from pole_agent.updater import Updater  # noqa: PLC0415

    return Updater(Layout(args.root), SystemdService(args.unit), SystemClock(), grace_s=args.grace)


def cmd_apply(args: argparse.Namespace) -> int:
    from pole_agent.release import ReleaseRefusedError  # noqa: PLC0415
    from pole_agent.service_control import ServiceError  # noqa: PLC0415
    from pole_agent.updater import UpdateError  # noqa: PLC0415

    try:
        result = _updater(args).apply(args.artefact, allow_downgrade=args.allow_downgrade)
    except (ReleaseRefusedError, UpdateError) as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except ServiceError as err:
        print(f"service: {err} (run `pole-agent update status`)", file=sys.stderr)
        return EXIT_ROLLBACK_UNHEALTHY
    print(f"{result.outcome}: {result.reason}")
    return {
        "committed": EXIT_OK,
        "unchanged": EXIT_OK,
        "rolled-back": EXIT_ROLLED_BACK,
        "rollback-unhealthy": EXIT_ROLLBACK_UNHEALTHY,
    }[result.outcome]


def cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(_updater(args).status(), indent=2))
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from pole_agent.updater import UpdateError  # noqa: PLC0415

    try:
        result = _updater(args).rollback()
    except UpdateError as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"back on {result.version}: {result.reason}")
    return EXIT_OK if result.outcome == "committed" else EXIT_ROLLBACK_UNHEALTHY


def cmd_recover(args: argparse.Namespace) -> int:
    from pole_agent.updater import UpdateError  # noqa: PLC0415

    try:
        print(_updater(args).recover())
    except UpdateError as err:
        print(f"recover: {err}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK
