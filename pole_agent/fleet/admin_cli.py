"""The operator's ``pole-agent fleet`` actions (docs/remote.md): ``ca init``, ``issue``,
``revoke``, ``rotate``, ``operator`` (the city tools' password), ``sign`` and ``send`` (a signed
desired config or command, printed or published). Exit codes: 0 done; 1 refused (the message
says why); 2 usage. The agent never loads this module."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pole_agent.atomic_file import write_atomic
from pole_agent.config import ConfigError, parse_config
from pole_agent.fleet import credentials
from pole_agent.remote.envelope import COMMAND_NAME_PATTERN, load_private_key, sign
from pole_agent.telemetry import topics

EXIT_OK = 0
EXIT_REFUSED = 1


class _Refused(Exception):  # noqa: N818 - internal verdict, turned into exit code 1
    pass


def _ca_init(args: argparse.Namespace) -> int:
    credentials.init_ca(args.ca_dir, broker_names=tuple(args.broker_name or ["localhost"]))
    print(f"fleet CA, broker certificate, CRL and signing key written to {args.ca_dir}")
    print(f"signing key: {args.ca_dir / (credentials.SIGNING_KEY_NAME + '.key')} (keep offline)")
    return EXIT_OK


def _issue(args: argparse.Namespace) -> int:
    creds = credentials.issue(args.ca_dir, args.out, args.pole_id, days=args.days)
    print(f"{creds.pole_id}: certificate serial {creds.serial:x}, files in {creds.directory}")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    serials = credentials.revoke(args.ca_dir, args.pole_id)
    print(f"{args.pole_id}: password removed, {len(serials)} certificate(s) on the CRL")
    print("reload the broker now (systemctl reload mosquitto) so it refuses the pole")
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    creds = credentials.rotate(args.ca_dir, args.out, args.pole_id, days=args.days)
    print(f"{creds.pole_id}: old credentials revoked; new ones in {creds.directory}")
    print("install them on the pole, then reload the broker")
    return EXIT_OK


def _operator(args: argparse.Namespace) -> int:
    password = credentials.new_password()
    credentials.set_password(args.ca_dir / "passwd", args.name, password)
    write_atomic(args.out, (password + "\n").encode(), mode=0o600)
    print(f"operator {args.name}: password in {args.out} (0600); reload the broker")
    return EXIT_OK


def _expiry(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def build_message(args: argparse.Namespace) -> tuple[str, dict[str, Any], bool]:
    """``(topic, unsigned message, retain)`` from the sign/send arguments."""
    credentials.check_pole_id(args.pole)
    if args.kind == "config":
        try:
            data = tomllib.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise _Refused(f"{args.config}: {err}") from None
        data.pop("config_version", None)
        try:
            config = parse_config({**data, "config_version": args.version}, str(args.config))
        except ConfigError as err:
            raise _Refused(str(err)) from None
        if config.pole_id != args.pole:
            raise _Refused(f"{args.config}: pole_id is {config.pole_id}, not {args.pole}")
        message: dict[str, Any] = {
            "kind": "config",
            "pole_id": args.pole,
            "version": args.version,
            "expires_at": _expiry(args.expires_in),
            "config": data,
        }
        return topics.config_desired(args.pole), message, True
    if not re.fullmatch(COMMAND_NAME_PATTERN, args.name):
        raise _Refused(f"--name {args.name!r}: lower-case letters, digits, '-', '_'")
    try:
        command_args = json.loads(args.args)
    except ValueError as err:
        raise _Refused(f"--args: not JSON: {err}") from None
    if not isinstance(command_args, dict):
        raise _Refused("--args: must be a JSON object")
    message = {
        "kind": "command",
        "id": args.id or uuid.uuid4().hex,
        "name": args.name,
        "pole_id": args.pole,
        "expires_at": _expiry(args.expires_in),
        "args": command_args,
    }
    return topics.command(args.pole, args.name), message, False


def _signed(args: argparse.Namespace) -> tuple[str, dict[str, Any], bool]:
    topic, message, retain = build_message(args)
    try:
        key = load_private_key(args.key)
    except ValueError as err:
        raise _Refused(str(err)) from None
    return topic, sign(message, key), retain


def _sign(args: argparse.Namespace) -> int:
    topic, message, _ = _signed(args)
    print(json.dumps(message, sort_keys=True))
    print(f"topic: {topic}", file=sys.stderr)
    return EXIT_OK


def _send(args: argparse.Namespace) -> int:
    from pole_agent.drivers.mqtt_link import PublishFailedError, publish_once  # noqa: PLC0415

    topic, message, retain = _signed(args)
    password = None
    if args.password_file is not None:
        password = args.password_file.read_text(encoding="utf-8").strip()
    try:
        publish_once(
            host=args.host,
            port=args.port,
            topic=topic,
            payload=json.dumps(message, sort_keys=True).encode(),
            retain=retain,
            client_id=f"spole-fleet-send-{uuid.uuid4().hex[:8]}",
            username=args.username,
            password=password,
            ca_file=args.ca_file,
        )
    except PublishFailedError as err:
        raise _Refused(str(err)) from None
    print(f"sent to {topic}" + (f" (id {message['id']})" if "id" in message else ""))
    return EXIT_OK


def _run(func: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            result: int = func(args)
            return result
        except (credentials.CredentialError, _Refused, FileExistsError, ValueError) as err:
            print(f"refused: {err}", file=sys.stderr)
            return EXIT_REFUSED

    return wrapped


def _message_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    config = kinds.add_parser("config", help="a desired config (the pole's TOML file)")
    config.add_argument("--config", type=Path, required=True, help="the config file (TOML)")
    config.add_argument("--version", type=int, required=True, help="above the pole's applied one")
    command = kinds.add_parser("command", help="a command")
    command.add_argument(
        "--name",
        required=True,
        help="announce, set_message, reload, rebirth, selftest (docs/remote.md)",
    )
    command.add_argument("--args", default="{}", help="the command's arguments (JSON object)")
    command.add_argument("--id", default=None, help="command id (default: random)")
    for sub in (config, command):
        sub.add_argument("--pole", required=True, help="target pole id")
        sub.add_argument("--key", type=Path, required=True, help="the fleet signing key (PEM)")
        sub.add_argument(
            "--expires-in", type=float, default=3600.0, help="seconds until it expires"
        )


def add_admin_commands(fleet_sub: Any) -> None:
    """Add the operator actions to ``pole-agent fleet``."""
    ca = fleet_sub.add_parser("ca", help="the fleet CA")
    ca_sub = ca.add_subparsers(dest="ca_command", required=True, metavar="ACTION")
    init = ca_sub.add_parser("init", help="create the CA, broker certificate, CRL, signing key")
    init.add_argument("--ca-dir", type=Path, required=True)
    init.add_argument("--broker-name", action="append", help="broker host name or IP (repeat)")
    init.set_defaults(func=_run(_ca_init))

    for name, helptext, func in (
        ("issue", "issue a pole's certificate, key and password", _issue),
        ("rotate", "revoke a pole's credentials and issue new ones", _rotate),
        ("revoke", "remove a pole's password and put its certificates on the CRL", _revoke),
    ):
        action = fleet_sub.add_parser(name, help=helptext)
        action.add_argument("pole_id")
        action.add_argument("--ca-dir", type=Path, required=True)
        if name != "revoke":
            action.add_argument("--out", type=Path, required=True, help="where to write its files")
            action.add_argument("--days", type=int, default=825, help="certificate lifetime")
        action.set_defaults(func=_run(func))

    operator = fleet_sub.add_parser("operator", help="set the city tools' broker password")
    operator.add_argument("--ca-dir", type=Path, required=True)
    operator.add_argument("--name", default="city", choices=sorted(credentials.RESERVED_USERS))
    operator.add_argument("--out", type=Path, required=True, help="password file to write (0600)")
    operator.set_defaults(func=_run(_operator))

    sign_parser = fleet_sub.add_parser("sign", help="print a signed desired config or command")
    _message_arguments(sign_parser)
    sign_parser.set_defaults(func=_run(_sign))

    send = fleet_sub.add_parser("send", help="sign and publish a desired config or command")
    send.add_argument("--host", default="127.0.0.1", help="broker host")
    send.add_argument("--port", type=int, default=8884, help="broker port")
    send.add_argument("--username", default="city", help="MQTT user name")
    send.add_argument("--password-file", type=Path, default=None, help="file with the password")
    send.add_argument("--ca-file", type=Path, default=None, help="CA certificate (TLS)")
    _message_arguments(send)
    send.set_defaults(func=_run(_send))
