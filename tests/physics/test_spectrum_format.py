"""The spectrum line: round trip, validation with reasons, never raising, and the link budget."""

from __future__ import annotations

import base64
import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pole_agent.perception.spectrum import (
    MAX_SPECTRUM_LINE_BYTES,
    SpectrumFrame,
    SpectrumRejected,
    decode_spectrum,
    encode_spectrum,
    frame_from_db,
    full_runs,
    is_spectrum_line,
    line_bytes,
    quantise_db,
)
from simulator.spectrum_source import BandPolicy, choose_runs

UART_BAUD = 230_400
UART_BYTES_PER_S = UART_BAUD / 10  # 8N1: a start and a stop bit per byte


@st.composite
def frames(draw: st.DrawFn) -> SpectrumFrame:
    n = draw(st.sampled_from([64, 256, 512, 1024, 2048]))
    half = n // 2
    runs: list[tuple[int, int]] = []
    full = draw(st.booleans())
    if full:
        runs = [(-half, n)]
    else:
        cursor = -half
        for _ in range(draw(st.integers(1, 6))):
            if cursor >= half:
                break
            start = draw(st.integers(cursor, half - 1))
            count = draw(st.integers(1, half - start))
            runs.append((start, count))
            cursor = start + count + 1
    total = sum(count for _, count in runs)
    codes = draw(st.binary(min_size=total, max_size=total))
    return SpectrumFrame(
        seq=draw(st.integers(0, 65535)),
        uptime_s=draw(st.integers(0, 10**9)) / 1000,
        sampling_rate_hz=draw(st.sampled_from([1000, 5000, 10000, 20000, 50000, 100000])),
        fft_size=n,
        mode="F" if full else "B",
        db0=draw(st.integers(-9999, 9999)) / 100,
        step_db=draw(st.integers(1, 10000)) / 1000,
        runs=tuple(runs),
        codes=np.frombuffer(codes, dtype=np.uint8),
        encoding=draw(st.sampled_from(["B", "H"])),
    )


@given(frames())
@settings(max_examples=150, deadline=None)
def test_round_trip(frame: SpectrumFrame) -> None:
    line = encode_spectrum(frame)
    assert is_spectrum_line(line)
    assert len(line) <= MAX_SPECTRUM_LINE_BYTES
    assert b" " not in line and line.isascii()
    decoded = decode_spectrum(line)
    assert isinstance(decoded, SpectrumFrame), decoded
    assert decoded == frame
    assert np.array_equal(decoded.codes, frame.codes)
    assert decoded.bins().shape[0] == decoded.bin_count == frame.codes.shape[0]
    assert len(line) + 2 <= line_bytes(frame.bin_count, frame.encoding, len(frame.runs))


@given(st.binary(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_decoder_never_raises_on_bytes(data: bytes) -> None:
    result = decode_spectrum(data)
    assert isinstance(result, SpectrumFrame | SpectrumRejected)


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_decoder_never_raises_on_text_after_the_magic(tail: bytes) -> None:
    result = decode_spectrum(b"SPEC1," + tail)
    assert isinstance(result, SpectrumRejected)  # no valid checksum by chance


VALID = encode_spectrum(
    frame_from_db(np.linspace(-30.0, 120.0, 1024), seq=7, uptime_s=12.5, sampling_rate_hz=20000)
)


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_a_damaged_valid_line_is_rejected_never_raises(data: st.DataObject) -> None:
    line = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(line) - 1))
        line[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(line)))
    result = decode_spectrum(bytes(line[:cut]))
    if bytes(line[:cut]) != VALID:
        assert isinstance(result, SpectrumRejected)


def resign(body: bytes) -> bytes:
    """A line with a correct checksum for ``body``: reaching the field checks behind the CRC."""
    return body + b"*" + f"{zlib.crc32(body):08x}".encode()


def body_of(line: bytes) -> bytes:
    return line.rpartition(b"*")[0]


def replace_field(line: bytes, index: int, value: bytes) -> bytes:
    fields = body_of(line).split(b",")
    fields[index] = value
    return resign(b",".join(fields))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"SPEC1,1,2", "spectrum_no_checksum"),
        (b"SPEC2," + VALID[6:], "spectrum_bad_version"),
        (b"speed 12", "spectrum_not_spectrum"),
        (VALID[:-1] + (b"0" if VALID[-1:] != b"0" else b"1"), "spectrum_bad_checksum"),
        (VALID[:-8] + b"zzzzzzzz", "spectrum_bad_checksum"),
        (b"SPEC1," + b"\xff" * 10, "spectrum_not_text"),
        (b"SPEC1," + b"0" * MAX_SPECTRUM_LINE_BYTES, "spectrum_too_long"),
        (resign(b"SPEC1,1,2,3"), "spectrum_bad_header"),
        (replace_field(VALID, 1, b"70000"), "spectrum_bad_seq"),
        (replace_field(VALID, 2, b"-1.0"), "spectrum_bad_time"),
        (replace_field(VALID, 2, b"nan"), "spectrum_bad_time"),
        (replace_field(VALID, 3, b"300000"), "spectrum_bad_rate"),
        (replace_field(VALID, 4, b"1000"), "spectrum_bad_size"),
        (replace_field(VALID, 5, b"X"), "spectrum_bad_mode"),
        (replace_field(VALID, 6, b"inf"), "spectrum_bad_scale"),
        (replace_field(VALID, 7, b"0"), "spectrum_bad_scale"),
        (replace_field(VALID, 8, b"Z"), "spectrum_bad_encoding"),
        (replace_field(VALID, 9, b"-512:1000"), "spectrum_bad_runs"),  # F needs every bin
        (replace_field(VALID, 9, b"-600:10"), "spectrum_bad_runs"),
        (replace_field(VALID, 9, b"ab"), "spectrum_bad_runs"),
        (replace_field(VALID, 10, b"!!!!"), "spectrum_bad_payload"),
        (replace_field(VALID, 10, base64.b64encode(b"\x01" * 10)), "spectrum_length_mismatch"),
    ],
)
def test_rejections_name_what_was_wrong(line: bytes, reason: str) -> None:
    result = decode_spectrum(line)
    assert isinstance(result, SpectrumRejected)
    assert result.reason == reason
    assert result.detail


def test_band_runs_must_ascend_without_overlap() -> None:
    band = replace_field(VALID, 5, b"B")
    overlapping = replace_field(band, 9, b"-10:20;0:5")
    result = decode_spectrum(replace_field(overlapping, 10, base64.b64encode(b"\x00" * 25)))
    assert isinstance(result, SpectrumRejected) and result.reason == "spectrum_bad_runs"
    good = replace_field(replace_field(band, 9, b"-10:20;30:5"), 10, base64.b64encode(b"\x02" * 25))
    decoded = decode_spectrum(good)
    assert isinstance(decoded, SpectrumFrame) and decoded.mode == "B"


def test_values_and_band_access() -> None:
    db = np.full(1024, 5.0)
    db[512 + 40] = 60.0  # a target at bin +40
    db[512 - 3] = -50.0  # below the scale: clipped to code 0
    frame = frame_from_db(
        db, seq=70000, uptime_s=1.0, sampling_rate_hz=20000, runs=((-8, 16), (30, 20))
    )
    decoded = decode_spectrum(encode_spectrum(frame))
    assert isinstance(decoded, SpectrumFrame)
    assert decoded.seq == 70000 % 65536
    assert decoded.resolution_mps == pytest.approx(0.1214, abs=1e-4)
    full = decoded.full_db()
    assert full[512 + 40] == 60.0 and full[512 + 2] == 5.0 and full[512 - 3] == -20.0
    assert math.isnan(full[512 + 20]) and math.isnan(full[0])
    band = decoded.band_db(35, 45, fill_db=0.0)
    assert band.tolist() == [5.0] * 5 + [60.0] + [5.0] * 4
    assert decoded.band_db(100, 104, fill_db=-1.0).tolist() == [-1.0] * 4
    assert quantise_db([np.nan, np.inf, -np.inf, 107.5, 200.0]).tolist() == [0, 255, 0, 255, 255]
    assert full_runs(512) == ((-256, 512),)


def test_encoder_refuses_a_frame_the_decoder_would_reject() -> None:
    frame = frame_from_db(np.zeros(1024), seq=1, uptime_s=-1.0, sampling_rate_hz=20000)
    with pytest.raises(ValueError, match="uptime"):
        encode_spectrum(frame)


@pytest.mark.parametrize("rate_hz", [10_000, 20_000])
def test_a_band_frame_fits_a_230400_baud_uart_at_the_frame_rate(rate_hz: int) -> None:
    """The budget: at the sensor's own frame rate (one line per 1024-sample buffer), the
    largest band line must leave half of the UART for the speed reports."""
    frames_per_s = rate_hz / 1024
    policy = BandPolicy()
    worst = line_bytes(policy.max_bins, "B", runs=1 + policy.extra_runs)
    assert worst * frames_per_s <= 0.5 * UART_BYTES_PER_S
    # and the lines the emulator really makes are within that worst case
    rng = np.random.default_rng(1)
    spectrum = rng.normal(0, 3, 1024).astype(np.float32)
    spectrum[512 + 300] = 60.0  # a fast vehicle, outside the base band
    spectrum[512 - 400] = 50.0
    runs = choose_runs(spectrum, policy)
    line = encode_spectrum(frame_from_db(spectrum, seq=65535, uptime_s=99999.999,
                                         sampling_rate_hz=rate_hz, runs=runs))  # fmt: skip
    assert sum(count for _, count in runs) == policy.max_bins
    assert len(line) + 2 <= worst


def test_full_spectrum_is_for_usb_it_would_overrun_the_uart_at_20khz() -> None:
    full = line_bytes(1024, "B")
    assert full * 20_000 / 1024 > UART_BYTES_PER_S  # why the band mode exists
    assert full * 10_000 / 1024 < UART_BYTES_PER_S  # at 10 kHz it would just fit
    assert line_bytes(1024, "H") > full  # hex is the readable, larger choice


def test_choose_runs_keeps_the_base_band_and_adds_strong_lines() -> None:
    policy = BandPolicy(base_bins=64, extra_runs=2, extra_bins=32, threshold_db=12.0)
    quiet = np.zeros(1024, np.float32)
    assert choose_runs(quiet, policy) == ((-64, 128),)
    loud = quiet.copy()
    loud[512 + 200] = 40.0
    loud[512 + 70] = 30.0  # just outside the base band: the runs merge
    runs = choose_runs(loud, policy)
    assert runs == ((-64, 128 + 22), (184, 32))
    assert choose_runs(np.zeros(64, np.float32), policy) == ((-32, 64),)
