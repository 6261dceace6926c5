"""An experiment (docs/radar_model.md, identifiability): does a child-versus-adult network that
keeps the time axis, where the gait cadence lives, do better than the shipped network, which
pools time away early?

    .venv/bin/python -m training.child_adult_experiment [--epochs 8]

Trains on the training windows holding one person alone (child or adult, nothing else; the
band of people, bins -128..127), its last 10 % for validation, then measures the AUC on the
held-out windows holding one person alone, beside the shipped network's margin
p(child) - p(adult) on the same windows. Needs the ``train`` extra (TensorFlow); about 4 minutes
on two shared cores. Measured: validation AUC 0.66, held-out 0.56 against the shipped 0.61: no
gain, so nothing was retrained.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import DEFAULT_MODEL, RadarModel
from simulator.training_data import Dataset
from training.identifiability import separation
from training.radar_dataset import (
    HELD_OUT_COUNT,
    HELD_OUT_SEED,
    MODEL_SPEC,
    TRAIN_COUNT,
    TRAIN_SEED,
    load_or_generate,
)
from training.radar_evaluation import predict_all
from training.train_radar_model import _tf

PEOPLE_BINS = (128, 384)
"""Columns of the model's 512-bin window holding bins -128..127 (+-15.5 m/s)."""


def one_person(data: Dataset) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], Any]:
    """Windows with exactly one label, child or adult: their people band, child?, their rows."""
    present = data.present
    rows = np.flatnonzero((present.sum(axis=1) == 1) & (present[:, 0] | present[:, 1]))
    codes = data.codes[rows][:, :, PEOPLE_BINS[0] : PEOPLE_BINS[1]]
    return codes, present[rows, 0], rows


def build(tf: Any) -> Any:
    """Conv2D pooling frequency only (32 frames kept), then Conv1D over time."""
    layers = tf.keras.layers
    inputs = tf.keras.Input((MODEL_SPEC.frames, PEOPLE_BINS[1] - PEOPLE_BINS[0], 1))
    x = layers.Rescaling(1 / 64, offset=-40 / 64)(inputs)
    for i, filters in enumerate((12, 16, 24, 32)):
        kernel, strides = ((3, 5), (1, 2)) if i == 0 else ((3, 3), (1, 1))
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D((1, 2))(x)
    x = layers.Reshape((MODEL_SPEC.frames, -1))(x)
    x = layers.Conv1D(32, 5, padding="same", activation="relu")(x)
    x = layers.Conv1D(32, 5, padding="same", dilation_rate=2, activation="relu")(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    x = layers.Dropout(0.3)(x)
    return tf.keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=Path(".cache/radar_model"))
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    train = load_or_generate(args.cache, seed=TRAIN_SEED, count=TRAIN_COUNT, held_out=False)
    held = load_or_generate(args.cache, seed=HELD_OUT_SEED, count=HELD_OUT_COUNT, held_out=True)
    x, y, _ = one_person(train)
    x_test, y_test, rows = one_person(held)
    tf = _tf()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(3)
    split = int(len(x) * 0.9)

    def mirrored(codes: Any, label: Any) -> tuple[Any, Any]:
        window = tf.cast(codes, tf.float32)[..., None]
        flip = tf.random.uniform((tf.shape(window)[0],)) < 0.5
        return tf.where(flip[:, None, None, None], tf.reverse(window, axis=[2]), window), label

    batches = (
        tf.data.Dataset.from_tensor_slices((x[:split], y[:split].astype(np.float32)))
        .shuffle(split, seed=1)
        .batch(64)
        .map(mirrored)
        .prefetch(2)
    )
    model = build(tf)
    steps = args.epochs * int(np.ceil(split / 64))
    schedule = tf.keras.optimizers.schedules.CosineDecay(3e-3, steps, alpha=0.02)
    model.compile(tf.keras.optimizers.Adam(schedule), "binary_crossentropy")
    started = time.monotonic()
    model.fit(batches, epochs=args.epochs, verbose=2)
    print(f"{len(x)} training windows, fit {time.monotonic() - started:.0f} s")
    validation = model.predict(x[split:, ..., None].astype(np.float32), verbose=0)[:, 0]
    print("validation:", separation(validation.astype(np.float64), y[split:]))
    tested = model.predict(x_test[..., None].astype(np.float32), verbose=0)[:, 0]
    print(f"held-out, {len(x_test)} windows:", separation(tested.astype(np.float64), y_test))
    shipped = RadarModel.load(DEFAULT_MODEL, sampling_rate_hz=MODEL_SPEC.sampling_rate_hz)
    scores, _ = predict_all(shipped.predict, held.codes[rows])
    margin = (scores[:, 0] - scores[:, 1]).astype(np.float64)
    print("shipped network's margin, same windows:", separation(margin, y_test))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
