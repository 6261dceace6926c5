"""What the city sends a pole, as it travels: a desired config or a command, each addressed to one
pole, with an expiry, and signed with the fleet's Ed25519 key over its canonical form.

The canonical form is the message's JSON object without ``signature``, serialised with sorted
keys, no spaces, UTF-8 (``canonical``). ``kind`` ("config" / "command") is inside what is signed,
so a signed config cannot pass as a command. Pure: no I/O except loading key files.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pole_agent.config import POLE_ID_PATTERN

MAX_PAYLOAD_BYTES = 256 * 1024
COMMAND_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


class Rejected(Exception):  # noqa: N818 - a verdict, not an error of the agent
    """A message refused; ``reason`` is one of the documented short reasons, ``detail`` says
    what exactly (docs/remote.md)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pole_id: str = Field(pattern=POLE_ID_PATTERN, description="The pole it is addressed to.")
    expires_at: AwareDatetime = Field(description="After this (UTC) the pole refuses it.")
    signature: str | None = Field(
        default=None, max_length=200, description="Base64 Ed25519 signature of the canonical form."
    )


class DesiredConfig(_Envelope):
    """``spole/<pole_id>/config/desired``: a whole config (the same model as the local file)."""

    kind: Literal["config"] = Field(description="Always 'config'.")
    version: int = Field(ge=1, description="Raised by the city with every change; never reused.")
    config: dict[str, Any] = Field(description="The pole's configuration, as in its TOML file.")


class Command(_Envelope):
    """``spole/<pole_id>/cmd/<name>``: one command, run at most once."""

    kind: Literal["command"] = Field(description="Always 'command'.")
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Unique; never run twice.")
    name: str = Field(pattern=COMMAND_NAME_PATTERN, description="Must equal the topic's <name>.")
    args: dict[str, Any] = Field(default_factory=dict, description="The command's arguments.")


def canonical(message: dict[str, Any]) -> bytes:
    """The bytes that are signed: the object without ``signature``, sorted keys, compact."""
    body = {k: v for k, v in message.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(message: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``message`` with its ``signature``."""
    signature = base64.b64encode(key.sign(canonical(message))).decode()
    return {**message, "signature": signature}


def parse_json(payload: bytes) -> dict[str, Any]:
    """The payload's JSON object, or Rejected('malformed')."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected("malformed", f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise Rejected("malformed", f"not a UTF-8 JSON document: {err}") from None
    if not isinstance(data, dict):
        raise Rejected("malformed", "not a JSON object")
    return data


def verify(message: dict[str, Any], keys: list[Ed25519PublicKey]) -> None:
    """Check the signature against any of ``keys``; with no keys configured anything passes.
    Raises Rejected('unsigned' / 'bad-signature')."""
    if not keys:
        return
    signature = message.get("signature")
    if not isinstance(signature, str) or not signature:
        raise Rejected("unsigned", "a fleet key is configured and the message has no signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("bad-signature", "the signature is not base64") from None
    body = canonical(message)
    for key in keys:
        try:
            key.verify(raw, body)
            return
        except InvalidSignature:
            continue
    raise Rejected("bad-signature", "the signature does not verify with the fleet key")


def check_fresh(expires_at: datetime, now: datetime) -> None:
    if now >= expires_at:
        raise Rejected("expired", f"expired at {expires_at.isoformat()} (now {now.isoformat()})")


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The fleet's public key (PEM); ValueError naming the file if it is not one."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable PEM public key: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The fleet's signing key (PEM, unencrypted, as ``fleet ca init`` writes it)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a readable unencrypted PEM private key: {err}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key")
    return key
