"""Labelled windows for issue 4: shapes, labels, determinism per (seed, index), held-out ranges."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from simulator.training_data import (
    CLASSES,
    SceneRanges,
    WindowSpec,
    generate_dataset,
    generate_window,
    main,
)

SMALL = WindowSpec(frames=8)


def test_windows_have_the_specified_shape_and_consistent_labels() -> None:
    data = generate_dataset(12, seed=3, spec=SMALL)
    assert data.codes.shape == (12, 8, 256) and data.codes.dtype == np.uint8
    assert data.present.shape == (12, len(CLASSES))
    assert np.array_equal(data.present, ~np.isnan(data.radial_mps))
    for present, truths in zip(data.present, data.targets, strict=True):
        labels = {truth.label for truth in truths}
        assert labels == {c for c, p in zip(CLASSES, present, strict=True) if p}
        for truth in truths:
            assert truth.power_db >= SceneRanges().min_snr_db
            assert abs(truth.radial_mps) <= truth.speed_mps + 1e-6
    db = data.db()
    assert db.min() >= SMALL.db0 and np.median(db) == pytest.approx(0.0, abs=2.0)  # noise floor


def test_labels_follow_the_scene() -> None:
    everything = SceneRanges(p_child=1.0, p_adult=1.0, p_vehicle=1.0, p_rider=1.0, p_second=0.0)
    window = generate_window(0, seed=1, ranges=everything, spec=SMALL)
    assert window.present.all()
    nothing = SceneRanges(p_child=0.0, p_adult=0.0, p_vehicle=0.0, p_rider=0.0)
    empty = generate_window(0, seed=1, ranges=nothing, spec=SMALL)
    assert not empty.present.any() and empty.targets == ()
    fast_cars = SceneRanges(
        p_child=0.0, p_adult=0.0, p_vehicle=1.0, p_rider=0.0, p_second=0.0,
        vehicle_speed_kmh=(40.0, 40.0), aspect_deg=(0.0, 0.0), approaching_share=1.0,
        vehicle_range_m=(30.0, 30.0), azimuth_deg=(0.0, 0.0), bus_share=0.0,
    )  # fmt: skip
    car = generate_window(2, seed=9, ranges=fast_cars, spec=SMALL)
    assert car.radial_mps[CLASSES.index("vehicle")] == pytest.approx(40 / 3.6, rel=0.02)
    db = SMALL.db0 + car.codes.astype(np.float32) * SMALL.step_db
    half = -SMALL.band[0]
    peak = int(np.argmax(db[-1, half + 5 :])) + 5  # the last frame, skipping the DC clutter
    assert peak * WindowSpec().sensor().resolution_mps == pytest.approx(40 / 3.6, abs=0.25)


def test_same_seed_and_index_same_window_whatever_the_workers() -> None:
    one = generate_dataset(8, seed=11, spec=SMALL)
    two = generate_dataset(8, seed=11, spec=SMALL, workers=2)
    assert one.content_hash() == two.content_hash()
    tail = generate_dataset(3, seed=11, spec=SMALL, start=5)
    assert np.array_equal(tail.codes, one.codes[5:])
    other = generate_dataset(8, seed=12, spec=SMALL)
    assert other.content_hash() != one.content_hash()


def test_held_out_ranges_are_wider_on_every_axis() -> None:
    train, held = SceneRanges(), SceneRanges.held_out()
    widened = 0
    for field in dataclasses.fields(SceneRanges):
        a, b = getattr(train, field.name), getattr(held, field.name)
        if isinstance(a, tuple):
            assert b[0] <= a[0] and b[1] >= a[1], field.name
            widened += (b[0], b[1]) != (a[0], a[1])
    assert widened >= 15


def test_save_writes_arrays_and_metadata(tmp_path: Path) -> None:
    data = generate_dataset(3, seed=2, spec=SMALL)
    target = tmp_path / "windows.npz"
    data.save(target)
    loaded = np.load(target)
    assert np.array_equal(loaded["codes"], data.codes)
    meta = json.loads(Path(f"{target}.json").read_text())
    assert meta["sha256"] == data.content_hash() and meta["classes"] == list(CLASSES)
    assert meta["spec"]["frames"] == 8 and "simulated" in meta["note"]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "held.npz"
    assert (
        main(["--count", "2", "--seed", "5", "--held-out", "--workers", "1", "--out", str(out)])
        == 0
    )
    assert out.exists() and "sha256" in capsys.readouterr().out
