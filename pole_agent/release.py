"""Signed release artefacts: what an update is made of, and the check before anything changes.

An artefact is an uncompressed tar (wheels are compressed already) holding:

- ``manifest.json``: the format, the version, the pip requirement to install, and every other
  file with its size and SHA-256;
- ``manifest.json.sig``: the Ed25519 signature of the manifest's exact bytes;
- ``wheels/*.whl``: the pole-agent wheel and every dependency wheel, so the pole installs offline
  and everything it installs is covered by the signature.

``verify_artefact`` checks the signature against the public keys installed on the pole (one
``*.pub`` PEM file each), then every file's size and hash, reading the tar and writing nothing;
``extract_wheels`` writes the wheels out, checking each hash again as it goes. The only module that
imports ``cryptography``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
MAX_MANIFEST_BYTES = 1 << 20
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+)*([a-z0-9.+-]*)$"
_CHUNK = 1 << 16


class ReleaseRefusedError(Exception):
    """The artefact must not be installed; the message says why."""


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^wheels/[A-Za-z0-9_.+-]+\.whl$", description="Path inside the artefact."
    )
    size: int = Field(ge=0, description="Size in bytes.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, hex.")


class Manifest(BaseModel):
    """What a release artefact holds; signed as a whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = Field(description="Artefact format version.")
    name: Literal["pole-agent"] = Field(description="The distribution released.")
    version: str = Field(pattern=VERSION_PATTERN, max_length=64, description="Its version.")
    requirement: str = Field(
        pattern=r"^pole-agent(\[[a-z0-9,]+\])?==\S+$",
        description="What pip installs from the artefact's wheels, e.g. pole-agent[pi]==0.2.0.",
    )
    created: str = Field(description="When the artefact was built (UTC, ISO 8601).")
    files: list[ManifestFile] = Field(min_length=1, description="Every wheel in the artefact.")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if not self.requirement.endswith(f"=={self.version}"):
            raise ValueError(f"requirement {self.requirement!r} is not version {self.version}")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("a file is listed twice")
        own = [n for n in names if n.startswith(f"wheels/pole_agent-{self.version}-")]
        if len(own) != 1:
            raise ValueError(f"expected one pole_agent-{self.version} wheel, found {len(own)}")
        return self


@dataclass(frozen=True, slots=True)
class VerifiedRelease:
    manifest: Manifest
    key_name: str
    manifest_sha256: str


# -- keys ---------------------------------------------------------------------------------------


def generate_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` (private, PEM, mode 0600) and ``NAME.pub`` in ``directory``; refuses to
    overwrite an existing key."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ValueError(f"key name {name!r}: use letters, digits, '-' and '_'")
    directory.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists():
            raise FileExistsError(f"{path} exists: not overwriting a key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path.write_bytes(public)
    return key_path, pub_path


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a readable unencrypted PEM private key: {err}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key")
    return key


def load_trusted_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys a pole trusts: every ``*.pub`` in ``directory``, by file stem.
    A file that is not an Ed25519 public key is refused (a typo must not pass silently)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in sorted(directory.glob("*.pub")) if directory.is_dir() else []:
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as err:
            raise ReleaseRefusedError(f"trusted key {path}: unreadable: {err}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ReleaseRefusedError(f"trusted key {path}: not an Ed25519 public key")
        keys[path.stem] = key
    return keys


# -- building -----------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_artefact(
    wheels: list[Path],
    key_path: Path,
    out: Path,
    *,
    extras: str = "",
    created: datetime | None = None,
) -> Manifest:
    """Write a signed artefact of ``wheels`` (one of them the pole_agent wheel) to ``out``."""
    own = [w for w in wheels if w.name.startswith("pole_agent-")]
    if len(own) != 1:
        raise ValueError(f"expected exactly one pole_agent-*.whl among the wheels, got {len(own)}")
    version = own[0].name.split("-")[1]
    requirement = f"pole-agent{f'[{extras}]' if extras else ''}=={version}"
    manifest = Manifest(
        format=1,
        name="pole-agent",
        version=version,
        requirement=requirement,
        created=(created or datetime.now(UTC)).isoformat(timespec="seconds"),
        files=[
            ManifestFile(name=f"wheels/{w.name}", size=w.stat().st_size, sha256=_sha256_file(w))
            for w in sorted(wheels, key=lambda p: p.name)
        ],
    )
    body = (json.dumps(manifest.model_dump(), indent=2, sort_keys=True) + "\n").encode()
    signature = _load_private_key(key_path).sign(body)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in ((MANIFEST, body), (SIGNATURE, signature)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
        for wheel in sorted(wheels, key=lambda p: p.name):
            info = tar.gettarinfo(str(wheel), arcname=f"wheels/{wheel.name}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode, info.mtime = 0o644, 0
            with wheel.open("rb") as handle:
                tar.addfile(info, handle)
    os.replace(tmp, out)
    return manifest


# -- verifying ----------------------------------------------------------------------------------


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:")
    except (OSError, tarfile.TarError) as err:
        raise ReleaseRefusedError(
            f"{path}: not a release artefact (an uncompressed tar): {err}"
        ) from None


def _read_member(tar: tarfile.TarFile, name: str, limit: int) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ReleaseRefusedError(f"{name} is missing from the artefact") from None
    if not member.isfile() or member.size > limit:
        raise ReleaseRefusedError(
            f"{name} in the artefact is not a regular file of at most {limit} B"
        )
    handle = tar.extractfile(member)
    if handle is None:
        raise ReleaseRefusedError(f"{name} cannot be read")
    return handle.read()


def verify_artefact(path: Path, keys_dir: Path) -> VerifiedRelease:
    """Check the signature and every file of the artefact; writes nothing.

    Raises ReleaseRefusedError naming the first problem: no trusted key, a bad or foreign
    signature, a manifest that does not validate, a file missing, extra, of the wrong size or hash.
    """
    keys = load_trusted_keys(keys_dir)
    if not keys:
        raise ReleaseRefusedError(f"no trusted release keys (*.pub) in {keys_dir}")
    try:
        with _open_tar(path) as tar:
            body = _read_member(tar, MANIFEST, MAX_MANIFEST_BYTES)
            signature = _read_member(tar, SIGNATURE, 1024)
            key_name = _check_signature(body, signature, keys)
            try:
                manifest = Manifest.model_validate_json(body)
            except ValidationError as err:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
                    for e in err.errors()
                )
                raise ReleaseRefusedError(f"signed manifest is not valid: {problems}") from None
            expected = {f.name: f for f in manifest.files}
            seen: set[str] = set()
            for member in tar:
                if member.name in (MANIFEST, SIGNATURE):
                    continue
                listed = expected.get(member.name)
                if listed is None or member.name in seen:
                    raise ReleaseRefusedError(
                        f"{member.name!r} in the artefact is not in the manifest"
                    )
                seen.add(member.name)
                _check_member(tar, member, listed)
            missing = sorted(set(expected) - seen)
            if missing:
                raise ReleaseRefusedError(
                    f"listed but missing from the artefact: {', '.join(missing)}"
                )
            _check_padding(path, tar)
    except (OSError, tarfile.TarError, EOFError) as err:
        raise ReleaseRefusedError(f"{path}: damaged artefact: {err}") from None
    return VerifiedRelease(manifest, key_name, hashlib.sha256(body).hexdigest())


def _check_padding(path: Path, tar: tarfile.TarFile) -> None:
    """The bytes no signature covers (block padding after each member, the end-of-archive
    blocks) must be zero, so that any changed byte of the artefact is refused: headers are
    covered by their checksums, contents by the manifest's hashes and its signature."""
    size = path.stat().st_size
    with path.open("rb") as raw:
        regions = [
            (m.offset_data + m.size, -(-(m.offset_data + m.size) // tarfile.BLOCKSIZE))
            for m in tar.getmembers()
        ]
        spans = [(start, blocks * tarfile.BLOCKSIZE) for start, blocks in regions]
        spans.append((tar.offset, size))
        for start, end in spans:
            raw.seek(start)
            if raw.read(end - start).strip(b"\0"):
                raise ReleaseRefusedError(f"{path}: bytes outside the signed files were changed")


def _check_signature(body: bytes, signature: bytes, keys: dict[str, Ed25519PublicKey]) -> str:
    for name, key in keys.items():
        try:
            key.verify(signature, body)
        except InvalidSignature:
            continue
        return name
    raise ReleaseRefusedError(
        f"the manifest's signature matches none of the trusted keys ({', '.join(sorted(keys))})"
    )


def _check_member(tar: tarfile.TarFile, member: tarfile.TarInfo, listed: ManifestFile) -> None:
    if not member.isfile():
        raise ReleaseRefusedError(f"{member.name} is not a regular file")
    if member.size != listed.size:
        raise ReleaseRefusedError(f"{member.name}: size {member.size}, manifest says {listed.size}")
    handle = tar.extractfile(member)
    if handle is None:
        raise ReleaseRefusedError(f"{member.name} cannot be read")
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    if digest.hexdigest() != listed.sha256:
        raise ReleaseRefusedError(f"{member.name}: SHA-256 does not match the signed manifest")


def extract_wheels(path: Path, verified: VerifiedRelease, dest: Path) -> list[Path]:
    """Write the verified artefact's wheels into ``dest`` (flat), checking each hash again as it
    is written (the file could have changed since it was verified); returns their paths."""
    expected = {f.name: f for f in verified.manifest.files}
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with _open_tar(path) as tar:
        for member in tar:
            listed = expected.get(member.name)
            if listed is None:
                continue
            _check_member(tar, member, listed)  # reads it once more: hash before writing
            handle = tar.extractfile(member)
            assert handle is not None  # checked just above
            target = dest / Path(member.name).name
            digest = hashlib.sha256()
            with target.open("wb") as out:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != listed.sha256:
                raise ReleaseRefusedError(f"{member.name} changed while it was being extracted")
            written.append(target)
    if len(written) != len(expected):
        raise ReleaseRefusedError("the artefact changed after it was verified")
    return written
