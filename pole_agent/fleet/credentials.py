"""The fleet's credentials: a CA that issues each pole a client certificate (CN = pole id = MQTT
user name), per-pole passwords in Mosquitto's password file, revocation (CRL and password
removal) and rotation. The operator's side (``pole-agent fleet ca init / issue / revoke /
rotate``); the agent never loads it. docs/remote.md.

A CA directory holds ``ca.key`` (0600), ``ca.crt``, ``crl.pem``, ``server.crt`` / ``server.key``
(the broker's), ``passwd`` (Mosquitto's password file, 0600), ``issued.json`` (the serials issued
to each pole) and the fleet's Ed25519 signing key ``fleet-signing.key`` / ``.pub`` (signed desired
config and commands). Secrets are written 0600, atomically.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pole_agent.atomic_file import write_atomic
from pole_agent.config import POLE_ID_PATTERN
from pole_agent.release import generate_keypair

RESERVED_USERS = frozenset({"city"})
"""Operator user names in deploy/mosquitto/acl: never a pole id."""
SIGNING_KEY_NAME = "fleet-signing"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
_SALT_BYTES = 12
_USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CredentialError(Exception):
    """A credential operation refused, with the reason."""


# -- Mosquitto password file ----------------------------------------------------------------------


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Mosquitto's ``$7$`` hash: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt, base64."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    salt_b64 = base64.b64encode(salt).decode()
    return f"$7${PBKDF2_ITERATIONS}${salt_b64}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` entry (for tests and ``fleet`` self-checks)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), parts[4]
    except ValueError:
        return False
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return hmac.compare_digest(base64.b64encode(mine).decode(), digest)


def read_password_file(path: Path) -> dict[str, str]:
    """``user -> hash`` from a Mosquitto password file (missing file: empty)."""
    entries: dict[str, str] = {}
    if not path.exists():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        user, sep, hashed = line.strip().partition(":")
        if sep and user and not user.startswith("#"):
            entries[user] = hashed
    return entries


def _write_password_file(path: Path, entries: dict[str, str]) -> None:
    text = "".join(f"{user}:{hashed}\n" for user, hashed in sorted(entries.items()))
    write_atomic(path, text.encode(), mode=0o600)


def set_password(path: Path, user: str, password: str) -> None:
    """Add or replace ``user``'s entry (file mode 0600, written atomically)."""
    if not _USER.match(user):
        raise CredentialError(f"user name {user!r}: letters, digits, '_', '.', '-' only")
    if not password:
        raise CredentialError("an empty password is not a credential")
    entries = read_password_file(path)
    entries[user] = hash_password(password)
    _write_password_file(path, entries)


def remove_user(path: Path, user: str) -> bool:
    """Remove ``user``'s entry; True if there was one."""
    entries = read_password_file(path)
    if entries.pop(user, None) is None:
        return False
    _write_password_file(path, entries)
    return True


def new_password() -> str:
    """A random password (192 bits), for one pole or operator."""
    return secrets.token_urlsafe(24)


# -- the CA ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoleCredentials:
    """What ``issue`` wrote for one pole (copy the directory to the pole, mode 0600)."""

    pole_id: str
    directory: Path
    cert_file: Path
    key_file: Path
    password_file: Path
    ca_file: Path
    serial: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca(ca_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    except (OSError, ValueError) as err:
        raise CredentialError(
            f"{ca_dir}: no usable fleet CA ({err}); run `fleet ca init`"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CredentialError(f"{ca_dir}/ca.key: not an EC key")
    return key, cert


def _sign_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    subject_cn: str,
    public_key: ec.EllipticCurvePublicKey,
    days: int,
    *,
    ca: bool = False,
    server_names: tuple[str, ...] = (),
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for name in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def init_ca(
    ca_dir: Path, *, broker_names: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = 3650
) -> None:
    """Create the fleet CA, the broker's certificate, an empty CRL, an empty password file and
    the fleet signing key; refuses to overwrite an existing CA."""
    if (ca_dir / "ca.key").exists():
        raise CredentialError(f"{ca_dir}/ca.key exists: not overwriting the fleet CA")
    ca_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "S-Pole fleet CA")])
    cert = _sign_cert(key, name, "S-Pole fleet CA", key.public_key(), days, ca=True)
    write_atomic(ca_dir / "ca.key", _pem_key(key), mode=0o600)
    write_atomic(ca_dir / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _sign_cert(
        key, name, broker_names[0], server_key.public_key(), days, server_names=broker_names
    )
    write_atomic(ca_dir / "server.key", _pem_key(server_key), mode=0o600)
    write_atomic(ca_dir / "server.crt", server.public_bytes(serialization.Encoding.PEM), mode=0o644)
    _write_issued(ca_dir, {"poles": {}, "revoked": []})
    _write_crl(ca_dir, key, cert, [])
    if not (ca_dir / "passwd").exists():
        _write_password_file(ca_dir / "passwd", {})
    generate_keypair(ca_dir, SIGNING_KEY_NAME)


def _read_issued(ca_dir: Path) -> dict[str, object]:
    try:
        data = json.loads((ca_dir / "issued.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CredentialError(f"{ca_dir}/issued.json unreadable: {err}") from None
    if not isinstance(data, dict):
        raise CredentialError(f"{ca_dir}/issued.json: not an object")
    return data


def _write_issued(ca_dir: Path, data: dict[str, object]) -> None:
    write_atomic(ca_dir / "issued.json", json.dumps(data, indent=2).encode(), mode=0o600)


def _write_crl(
    ca_dir: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, serials: list[int]
) -> None:
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=3650))
    )
    for serial in serials:
        revoked = (
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
        )
        builder = builder.add_revoked_certificate(revoked)
    crl = builder.sign(key, hashes.SHA256())
    write_atomic(ca_dir / "crl.pem", crl.public_bytes(serialization.Encoding.PEM), mode=0o644)


def check_pole_id(pole_id: str) -> None:
    if not re.fullmatch(POLE_ID_PATTERN, pole_id):
        raise CredentialError(
            f"pole id {pole_id!r}: 1 to 64 characters of lower-case letters a-z, digits and '-'"
        )
    if pole_id in RESERVED_USERS:
        raise CredentialError(f"pole id {pole_id!r} is reserved for the city's operator tools")


def _poles(issued: dict[str, object]) -> dict[str, list[int]]:
    poles = issued.get("poles")
    if not isinstance(poles, dict):
        raise CredentialError("issued.json: 'poles' is not an object")
    return {str(k): [int(s) for s in v] for k, v in poles.items() if isinstance(v, list)}


def issue(ca_dir: Path, out_dir: Path, pole_id: str, *, days: int = 825) -> PoleCredentials:
    """Issue ``pole_id`` a client certificate and key and a password (added to ``passwd``);
    writes them to ``out_dir/<pole_id>/`` with the CA certificate."""
    check_pole_id(pole_id)
    ca_key, ca_cert = _load_ca(ca_dir)
    issued = _read_issued(ca_dir)
    poles = _poles(issued)
    if pole_id in poles:
        raise CredentialError(f"{pole_id} already has credentials: use `fleet rotate`")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign_cert(ca_key, ca_cert.subject, pole_id, key.public_key(), days)
    password = new_password()
    target = out_dir / pole_id
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)
    creds = PoleCredentials(
        pole_id=pole_id,
        directory=target,
        cert_file=target / "pole.crt",
        key_file=target / "pole.key",
        password_file=target / "mqtt-password",
        ca_file=target / "ca.crt",
        serial=cert.serial_number,
    )
    write_atomic(creds.key_file, _pem_key(key), mode=0o600)
    write_atomic(creds.cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    write_atomic(creds.password_file, (password + "\n").encode(), mode=0o600)
    write_atomic(creds.ca_file, (ca_dir / "ca.crt").read_bytes(), mode=0o644)
    set_password(ca_dir / "passwd", pole_id, password)
    poles[pole_id] = [cert.serial_number]
    issued["poles"] = poles
    _write_issued(ca_dir, issued)
    return creds


def revoke(ca_dir: Path, pole_id: str) -> list[int]:
    """Remove ``pole_id``'s password and put its certificates on the CRL; the serials revoked.
    The broker must then reload (SIGHUP) to refuse the pole."""
    ca_key, ca_cert = _load_ca(ca_dir)
    issued = _read_issued(ca_dir)
    poles = _poles(issued)
    serials = poles.pop(pole_id, [])
    had_password = remove_user(ca_dir / "passwd", pole_id)
    if not serials and not had_password:
        raise CredentialError(f"{pole_id} has no credentials to revoke")
    revoked_raw = issued.get("revoked")
    revoked = [int(s) for s in revoked_raw] if isinstance(revoked_raw, list) else []
    revoked.extend(serials)
    issued["poles"], issued["revoked"] = poles, revoked
    _write_issued(ca_dir, issued)
    _write_crl(ca_dir, ca_key, ca_cert, revoked)
    return serials


def rotate(ca_dir: Path, out_dir: Path, pole_id: str, *, days: int = 825) -> PoleCredentials:
    """Revoke ``pole_id``'s credentials and issue new ones."""
    revoke(ca_dir, pole_id)
    return issue(ca_dir, out_dir, pole_id, days=days)
