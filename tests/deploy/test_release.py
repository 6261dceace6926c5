"""Signed release artefacts: a good one verifies; one changed byte, a foreign key, an extra or a
missing file is refused."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pole_agent.release import (
    MANIFEST,
    SIGNATURE,
    ReleaseRefusedError,
    build_artefact,
    extract_wheels,
    generate_keypair,
    verify_artefact,
)
from tests.deploy.conftest import BuildWheel


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, build_wheel: BuildWheel) -> tuple[Path, Path]:
    """(artefact, folder of trusted keys)."""
    work = tmp_path_factory.mktemp("release")
    generate_keypair(work / "keys", "city-2026")
    wheels = work / "wheels"
    wheels.mkdir()
    wheel = build_wheel()
    (wheels / wheel.name).write_bytes(wheel.read_bytes())
    # A second wheel, standing in for a dependency.
    (wheels / "dep_pkg-1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + bytes(18))
    artefact = work / "pole-agent.release.tar"
    build_artefact(sorted(wheels.glob("*.whl")), work / "keys" / "city-2026.key", artefact)
    trusted = work / "trusted"
    trusted.mkdir()
    (trusted / "city-2026.pub").write_bytes((work / "keys" / "city-2026.pub").read_bytes())
    return artefact, trusted


def test_keygen_makes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    key, pub = generate_keypair(tmp_path, "ci")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(FileExistsError):
        generate_keypair(tmp_path, "ci")
    with pytest.raises(ValueError):
        generate_keypair(tmp_path, "../evil")


def test_a_good_artefact_verifies_and_extracts(signed: tuple[Path, Path], tmp_path: Path) -> None:
    artefact, trusted = signed
    verified = verify_artefact(artefact, trusted)
    assert verified.key_name == "city-2026"
    manifest = verified.manifest
    assert manifest.requirement == f"pole-agent=={manifest.version}"
    assert len(manifest.files) == 2
    written = extract_wheels(artefact, verified, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(Path(f.name).name for f in manifest.files)


def _member_offset(artefact: Path, name: str) -> tuple[int, int]:
    with tarfile.open(artefact) as tar:
        member = tar.getmember(name)
        return member.offset_data, member.size


@pytest.mark.parametrize("where", [MANIFEST, SIGNATURE, "wheel", "tar header"])
def test_one_changed_byte_is_refused(signed: tuple[Path, Path], tmp_path: Path, where: str) -> None:
    artefact, trusted = signed
    data = bytearray(artefact.read_bytes())
    if where == "tar header":
        offset = 100  # inside the first member's header (its mode field)
    else:
        with tarfile.open(artefact) as tar:
            name = next(m.name for m in tar if m.name.endswith(".whl") and "pole_agent" in m.name)
        start, size = _member_offset(artefact, name if where == "wheel" else where)
        offset = start + size // 2
    data[offset] ^= 0x01
    tampered = tmp_path / "tampered.tar"
    tampered.write_bytes(bytes(data))
    with pytest.raises(ReleaseRefusedError) as err:
        verify_artefact(tampered, trusted)
    message = str(err.value)
    expected = {
        MANIFEST: "signature",
        SIGNATURE: "signature",
        "wheel": "SHA-256",
        "tar header": "artefact",
    }[where]
    assert expected in message, message


def test_a_foreign_key_is_refused(
    signed: tuple[Path, Path], tmp_path: Path, build_wheel: BuildWheel
) -> None:
    _, trusted = signed
    generate_keypair(tmp_path / "mallory", "mallory")
    artefact = tmp_path / "foreign.tar"
    build_artefact([build_wheel()], tmp_path / "mallory" / "mallory.key", artefact)
    with pytest.raises(ReleaseRefusedError, match="matches none of the trusted keys"):
        verify_artefact(artefact, trusted)
    with pytest.raises(ReleaseRefusedError, match="no trusted release keys"):
        verify_artefact(artefact, tmp_path / "no-keys")


def _rewrite(
    artefact: Path, out: Path, *, drop: str = "", add: tuple[str, bytes] | None = None
) -> None:
    with tarfile.open(artefact) as src, tarfile.open(out, "w") as dst:
        for member in src:
            if member.name == drop:
                continue
            dst.addfile(member, src.extractfile(member))
        if add is not None:
            info = tarfile.TarInfo(add[0])
            info.size = len(add[1])
            dst.addfile(info, io.BytesIO(add[1]))


def test_an_extra_or_missing_file_is_refused(signed: tuple[Path, Path], tmp_path: Path) -> None:
    artefact, trusted = signed
    extra = tmp_path / "extra.tar"
    _rewrite(artefact, extra, add=("wheels/evil-1.0-py3-none-any.whl", b"x"))
    with pytest.raises(ReleaseRefusedError, match="not in the manifest"):
        verify_artefact(extra, trusted)
    missing = tmp_path / "missing.tar"
    _rewrite(artefact, missing, drop="wheels/dep_pkg-1.0-py3-none-any.whl")
    with pytest.raises(ReleaseRefusedError, match="missing from the artefact"):
        verify_artefact(missing, trusted)
    unsigned = tmp_path / "unsigned.tar"
    _rewrite(artefact, unsigned, drop=SIGNATURE)
    with pytest.raises(ReleaseRefusedError, match=r"manifest\.json\.sig is missing"):
        verify_artefact(unsigned, trusted)
    not_tar = tmp_path / "not.tar"
    not_tar.write_bytes(b"hello")
    with pytest.raises(ReleaseRefusedError, match="not a release artefact"):
        verify_artefact(not_tar, trusted)


def test_the_command_line_builds_and_verifies(tmp_path: Path, build_wheel: BuildWheel) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pole_agent", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    keygen = cli("release", "keygen", "--dir", str(tmp_path / "keys"), "--name", "ci")
    assert keygen.returncode == 0, keygen.stderr
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = build_wheel()
    (wheels / wheel.name).write_bytes(wheel.read_bytes())
    out = tmp_path / "a.tar"
    build = cli(
        "release", "build", "--wheels", str(wheels), "--key", str(tmp_path / "keys" / "ci.key"),
        "--out", str(out), "--extras", "pi",
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    good = cli("release", "verify", str(out), "--keys", str(tmp_path / "keys"))
    assert good.returncode == 0, good.stderr
    assert "pole-agent[pi]==" in good.stdout
    with tarfile.open(out) as tar:
        manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    assert manifest["requirement"].startswith("pole-agent[pi]==")
    data = bytearray(out.read_bytes())
    data[-2000] ^= 0xFF
    out.write_bytes(bytes(data))
    bad = cli("release", "verify", str(out), "--keys", str(tmp_path / "keys"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("refused: ")


def test_any_changed_byte_is_refused(signed: tuple[Path, Path], tmp_path: Path) -> None:
    """Every 509th byte of the artefact (a prime: it lands at every offset within the 512-byte
    blocks), headers, contents, padding and the end blocks alike."""
    artefact, trusted = signed
    original = artefact.read_bytes()
    tampered = tmp_path / "t.tar"
    accepted = []
    for offset in range(0, len(original), 509):
        data = bytearray(original)
        data[offset] ^= 0x20
        tampered.write_bytes(bytes(data))
        try:
            verify_artefact(tampered, trusted)
        except ReleaseRefusedError:
            continue
        accepted.append(offset)
    assert accepted == [], f"accepted with a changed byte at {accepted[:10]} of {len(original)}"
