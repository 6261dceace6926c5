"""The spectrum (FFT) line: one definition, used by the emulator to write and the agent to read.

The OPS243 can send its FFT (``OF``), but its line format is not documented (UNVERIFIED in the
shared reference), so the project defines its own, here and only here. docs/radar_physics.md
("The spectrum line") is the human description of the same thing.

A line, ASCII, no spaces, ended by ``\\r\\n`` on the wire (the terminator is stripped before
``decode_spectrum`` sees it)::

    SPEC1,<seq>,<uptime_s>,<rate_hz>,<fft_n>,<mode>,<db0>,<step_db>,<enc>,<runs>,<payload>*<crc32>

- ``SPEC1``: magic and format version. Any line starting ``SPEC`` is a spectrum line; another
  version is rejected as ``spectrum_bad_version``.
- ``seq``: frame counter 0..65535, wrapping; a gap means frames were lost.
- ``uptime_s``: sensor time (s since power-on) at the end of the frame's sample buffer.
- ``rate_hz``, ``fft_n``: sampling rate and FFT size; bin ``k`` is the Doppler frequency
  ``k * rate_hz / fft_n`` and the radial speed ``k * rate_hz * wavelength / (2 * fft_n)``,
  positive = inbound (approaching), the sensor's sign convention.
- ``mode``: ``F`` full spectrum (one run ``-fft_n/2:fft_n``, what USB carries) or ``B`` a
  reduced band (one or more runs, what a 230400-baud UART carries).
- ``db0``, ``step_db``: code ``c`` is the power ``db0 + c * step_db`` in dB; code 0 means "at or
  below db0", 255 "at or above the top".
- ``enc``: ``B`` base64 (RFC 4648, padded) or ``H`` hex, of one uint8 code per bin.
- ``runs``: ``start:count`` pairs joined by ``;``: signed bin index of the run's first bin and its
  length; ascending, not overlapping, inside ``-fft_n/2 .. fft_n/2 - 1``; at most 16.
- ``payload``: the codes of every run, in run order.
- ``crc32``: 8 hex digits, CRC-32 (zlib / IEEE 802.3) of every byte before the ``*``.

``decode_spectrum`` never raises: a line it cannot use comes back as ``SpectrumRejected`` with a
short counter key (``reason``) and a sentence naming what was wrong (``detail``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

MAGIC: Final = b"SPEC"
VERSION: Final = 1
CARRIER_HZ: Final = 24.125e9
WAVELENGTH_M: Final = 299_792_458.0 / CARRIER_HZ
MAX_RUNS: Final = 16
MIN_FFT: Final = 64
MAX_FFT: Final = 4096
MIN_RATE_HZ: Final = 500
MAX_RATE_HZ: Final = 200_000
MAX_SPECTRUM_LINE_BYTES: Final = 2 * MAX_FFT + 512
"""Longest valid line: every bin of the largest FFT in hex, plus the header."""
DEFAULT_DB0: Final = -20.0
DEFAULT_STEP_DB: Final = 0.5
"""The emulator's scale: 0.5 dB steps from -20 dB cover -20..107.5 dB (noise floor at 0 dB)."""

Mode = Literal["F", "B"]
Encoding = Literal["B", "H"]
FloatArray = npt.NDArray[np.float32]

_FIELDS: Final = 11
_NUMBER: Final = re.compile(r"-?\d{1,10}(\.\d{1,6})?")
_UINT: Final = re.compile(r"\d{1,7}")
_RUN: Final = re.compile(r"(-?\d{1,5}):(\d{1,5})")


@dataclass(frozen=True)
class SpectrumFrame:
    """One decoded (or to-be-encoded) spectrum frame: quantised codes for runs of bins."""

    seq: int
    uptime_s: float
    sampling_rate_hz: int
    fft_size: int
    mode: Mode
    db0: float
    step_db: float
    runs: tuple[tuple[int, int], ...]
    codes: npt.NDArray[np.uint8] = field(compare=False, repr=False)
    encoding: Encoding = "B"

    @property
    def resolution_mps(self) -> float:
        """Radial speed per bin (0.121 m/s at 20 kHz and 1024 points)."""
        return self.sampling_rate_hz * WAVELENGTH_M / (2 * self.fft_size)

    @property
    def bin_count(self) -> int:
        return int(sum(count for _, count in self.runs))

    def bins(self) -> npt.NDArray[np.int32]:
        """Signed bin index of every code, in payload order."""
        parts = [np.arange(start, start + count, dtype=np.int32) for start, count in self.runs]
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def db(self) -> FloatArray:
        """The power of every sent bin in dB, in payload order."""
        return (self.db0 + self.codes.astype(np.float32) * self.step_db).astype(np.float32)

    def band_db(self, lo: int, hi: int, fill_db: float = math.nan) -> FloatArray:
        """Power (dB) of bins ``lo .. hi - 1``; bins this frame did not send hold ``fill_db``."""
        out = np.full(max(0, hi - lo), fill_db, dtype=np.float32)
        values = self.db()
        offset = 0
        for start, count in self.runs:
            a, b = max(start, lo), min(start + count, hi)
            if a < b:
                out[a - lo : b - lo] = values[offset + a - start : offset + b - start]
            offset += count
        return out

    def full_db(self, fill_db: float = math.nan) -> FloatArray:
        """All ``fft_size`` bins, index ``i`` is bin ``i - fft_size // 2``."""
        half = self.fft_size // 2
        return self.band_db(-half, half, fill_db)


@dataclass(frozen=True)
class SpectrumRejected:
    """A spectrum line that could not be used: ``reason`` is a counter key."""

    reason: str
    detail: str


def is_spectrum_line(line: bytes) -> bool:
    """Whether ``line`` claims to be a spectrum line (and so belongs to ``decode_spectrum``)."""
    return line[:4] == MAGIC


def quantise_db(
    db: npt.ArrayLike, db0: float = DEFAULT_DB0, step_db: float = DEFAULT_STEP_DB
) -> npt.NDArray[np.uint8]:
    """dB values to the wire's codes (rounded, clipped to 0..255; NaN becomes 0)."""
    scaled = (np.asarray(db, dtype=np.float64) - db0) / step_db
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def full_runs(fft_size: int) -> tuple[tuple[int, int], ...]:
    return ((-(fft_size // 2), fft_size),)


def frame_from_db(
    spectrum_db: npt.ArrayLike,
    *,
    seq: int,
    uptime_s: float,
    sampling_rate_hz: int,
    runs: tuple[tuple[int, int], ...] | None = None,
    db0: float = DEFAULT_DB0,
    step_db: float = DEFAULT_STEP_DB,
    encoding: Encoding = "B",
) -> SpectrumFrame:
    """A frame from a full spectrum (``fft_size`` values, most negative bin first).

    ``runs=None`` sends every bin (mode ``F``); otherwise only the given runs (mode ``B``).
    """
    values = np.asarray(spectrum_db, dtype=np.float64)
    n = int(values.shape[0])
    half = n // 2
    chosen = full_runs(n) if runs is None else runs
    parts = [values[start + half : start + half + count] for start, count in chosen]
    codes = quantise_db(np.concatenate(parts) if parts else values[:0], db0, step_db)
    return SpectrumFrame(
        seq=seq % 65536,
        uptime_s=uptime_s,
        sampling_rate_hz=sampling_rate_hz,
        fft_size=n,
        mode="F" if runs is None else "B",
        db0=db0,
        step_db=step_db,
        runs=tuple(chosen),
        codes=codes,
        encoding=encoding,
    )


def encode_spectrum(frame: SpectrumFrame) -> bytes:
    """The line for ``frame``, without the ``\\r\\n`` terminator.

    Raises ``ValueError`` for a frame that ``decode_spectrum`` would reject (the encoder is the
    sensor side: a bad frame there is a programming error, not input).
    """
    codes = np.ascontiguousarray(frame.codes, dtype=np.uint8).tobytes()
    payload = base64.b64encode(codes) if frame.encoding == "B" else binascii.hexlify(codes)
    runs = ";".join(f"{start}:{count}" for start, count in frame.runs)
    body = (
        f"SPEC{VERSION},{frame.seq},{frame.uptime_s:.3f},{frame.sampling_rate_hz},"
        f"{frame.fft_size},{frame.mode},{frame.db0:.2f},{frame.step_db:.3f},{frame.encoding},"
        f"{runs},"
    ).encode("ascii") + payload
    line = body + b"*" + f"{zlib.crc32(body):08x}".encode("ascii")
    checked = decode_spectrum(line)
    if isinstance(checked, SpectrumRejected):
        raise ValueError(f"cannot encode this frame: {checked.detail}")
    return line


def _reject(reason: str, detail: str) -> SpectrumRejected:
    return SpectrumRejected(f"spectrum_{reason}", detail)


def decode_spectrum(line: bytes) -> SpectrumFrame | SpectrumRejected:
    """Parse and validate one spectrum line (terminator stripped); never raises."""
    try:
        return _decode(line)
    except (ValueError, TypeError, OverflowError, binascii.Error) as err:  # pragma: no cover
        # Every check above should catch bad input first; this is the last line of defence.
        return _reject("malformed", f"unparseable spectrum line ({err.__class__.__name__})")


def _decode(line: object) -> SpectrumFrame | SpectrumRejected:
    if not isinstance(line, bytes | bytearray):
        return _reject("not_text", "a spectrum line must be bytes")
    line = bytes(line).rstrip(b"\r\n")
    if len(line) > MAX_SPECTRUM_LINE_BYTES:
        return _reject("too_long", f"{len(line)} bytes, more than {MAX_SPECTRUM_LINE_BYTES}")
    if not line.isascii():
        return _reject("not_text", "a spectrum line is ASCII")
    if not is_spectrum_line(line):
        return _reject("not_spectrum", "a spectrum line starts with SPEC")
    if line[4:6] != b"1,":
        return _reject("bad_version", f"format {line[4:6]!r} is not SPEC1")
    body, star, crc_text = line.rpartition(b"*")
    if not star:
        return _reject("no_checksum", "the line has no '*' checksum")
    if len(crc_text) != 8 or not all(c in b"0123456789abcdefABCDEF" for c in crc_text):
        return _reject("bad_checksum", "the checksum is not 8 hex digits")
    if int(crc_text, 16) != zlib.crc32(body):
        return _reject("bad_checksum", "the CRC-32 does not match the line")
    fields = body.decode("ascii").split(",")
    if len(fields) != _FIELDS:
        return _reject("bad_header", f"{len(fields)} comma-separated fields, expected {_FIELDS}")
    mode_t, enc_t, runs_t, payload_t = fields[5], fields[8], fields[9], fields[10]
    header = _header(fields[1:9])
    if isinstance(header, SpectrumRejected):
        return header
    seq, uptime, rate, n, db0, step = header
    runs = _runs(runs_t, n, mode_t)
    if isinstance(runs, SpectrumRejected):
        return runs
    codes = _payload(payload_t, enc_t)
    if isinstance(codes, SpectrumRejected):
        return codes
    expected = sum(count for _, count in runs)
    if codes.shape[0] != expected:
        return _reject(
            "length_mismatch", f"payload has {codes.shape[0]} bins, runs promise {expected}"
        )
    return SpectrumFrame(
        seq=seq,
        uptime_s=uptime,
        sampling_rate_hz=rate,
        fft_size=n,
        mode="F" if mode_t == "F" else "B",
        db0=db0,
        step_db=step,
        runs=runs,
        codes=codes,
        encoding="B" if enc_t == "B" else "H",
    )


def _header(fields: list[str]) -> tuple[int, float, int, int, float, float] | SpectrumRejected:
    """Seq, uptime, rate, FFT size, db0 and step from header fields 1..8."""
    seq_t, time_t, rate_t, n_t, mode_t, db0_t, step_t, enc_t = fields
    if not _UINT.fullmatch(seq_t) or int(seq_t) > 65535:
        return _reject("bad_seq", f"sequence {seq_t[:12]!r} is not an integer 0..65535")
    if not _NUMBER.fullmatch(time_t) or float(time_t) < 0:
        return _reject("bad_time", f"uptime {time_t[:12]!r} is not a number >= 0")
    if not _UINT.fullmatch(rate_t) or not MIN_RATE_HZ <= int(rate_t) <= MAX_RATE_HZ:
        return _reject(
            "bad_rate", f"sampling rate {rate_t[:12]!r} is not {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz"
        )
    n = int(n_t) if _UINT.fullmatch(n_t) else 0
    if not MIN_FFT <= n <= MAX_FFT or n & (n - 1):
        return _reject("bad_size", f"FFT size {n_t[:12]!r} is not a power of two {MIN_FFT}..")
    if mode_t not in ("F", "B"):
        return _reject("bad_mode", f"mode {mode_t[:4]!r} is neither F (full) nor B (band)")
    if not _NUMBER.fullmatch(db0_t) or abs(float(db0_t)) > 1000:
        return _reject("bad_scale", f"db0 {db0_t[:12]!r} is not a number within +-1000 dB")
    if not _NUMBER.fullmatch(step_t) or not 0 < float(step_t) <= 10:
        return _reject("bad_scale", f"step {step_t[:12]!r} is not a number in (0, 10] dB")
    if enc_t not in ("B", "H"):
        return _reject("bad_encoding", f"encoding {enc_t[:4]!r} is neither B (base64) nor H")
    return int(seq_t), float(time_t), int(rate_t), n, float(db0_t), float(step_t)


def _runs(text: str, n: int, mode: str) -> tuple[tuple[int, int], ...] | SpectrumRejected:
    parts = text.split(";")
    if len(parts) > MAX_RUNS:
        return _reject("bad_runs", f"{len(parts)} runs, at most {MAX_RUNS}")
    runs: list[tuple[int, int]] = []
    half, previous_end = n // 2, -(n // 2)
    for part in parts:
        match = _RUN.fullmatch(part)
        if match is None:
            return _reject("bad_runs", f"run {part[:16]!r} is not start:count")
        start, count = int(match.group(1)), int(match.group(2))
        if count < 1 or start < previous_end or start + count > half:
            return _reject(
                "bad_runs", f"run {part!r} is empty, overlaps or leaves bins {-half}..{half - 1}"
            )
        runs.append((start, count))
        previous_end = start + count
    if mode == "F" and runs != [(-half, n)]:
        return _reject("bad_runs", f"a full (F) frame has the one run {-half}:{n}")
    return tuple(runs)


def _payload(text: str, encoding: str) -> npt.NDArray[np.uint8] | SpectrumRejected:
    raw = text.encode("ascii")
    try:
        data = base64.b64decode(raw, validate=True) if encoding == "B" else binascii.unhexlify(raw)
    except (binascii.Error, ValueError):
        name = "base64" if encoding == "B" else "hex"
        return _reject("bad_payload", f"the payload is not valid {name}")
    return np.frombuffer(data, dtype=np.uint8).copy()


def line_bytes(bins: int, encoding: Encoding = "B", runs: int = 1) -> int:
    """Bytes one line of ``bins`` bins takes on the wire, terminator included (a worst case
    for the header: 5-digit sequence, 10-digit uptime, 6-digit rate)."""
    payload = 4 * math.ceil(bins / 3) if encoding == "B" else 2 * bins
    header = len("SPEC1,65535,9999999999.999,100000,1024,B,-20.00,0.500,B,") + 12 * runs
    return header + payload + len("*01234567\r\n")
