"""Train the kerb radar model and ship it: ``make models`` (needs the ``train`` extra).

One command: generate (or reuse from ``--cache``) training windows from the simulator's physics
(``TRAIN_SEED``, ``SceneRanges()``) and held-out windows (``HELD_OUT_SEED``,
``SceneRanges.held_out()``); train a small Keras CNN over the spectrogram window (sigmoid
presence per label, a radial-speed regression per label); convert it to a full-int8 .tflite with
a representative dataset; choose thresholds on the validation split (never on held-out data);
evaluate the .tflite through the agent's own loader on the held-out windows, as full-spectrum
(``F``) and band-mode (``B``) lines would give them; write ``radar_kerb.tflite`` and
``radar_kerb.json`` (docs/radar_model.md) to ``--out``.

    .venv/bin/python -m training.train_radar_model --out pole_agent/models
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pole_agent.drivers.tflite_runtime import load_model
from pole_agent.perception.radar_model import (
    LABELS,
    RadarModel,
)
from simulator.training_data import Dataset, SceneRanges
from training.radar_calibration import (
    choose_margins,
    choose_peak_labels,
    choose_refinement,
    choose_thresholds,
)
from training.radar_dataset import (
    CI_COUNT,
    HELD_OUT_COUNT,
    HELD_OUT_SEED,
    MODEL_SPEC,
    TRAIN_COUNT,
    TRAIN_SEED,
    band_mode,
    load_or_generate,
)
from training.radar_evaluation import evaluate_held_out
from training.radar_metadata import (
    NAME,
    SPEED_SCALE_MPS,
    STATEMENT,
    cell_centres,
    cell_spec,
    metadata,
)


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # noqa: PLC0415 (the train extra: imported only when training)

    return tf


CELL_SIGMA: Final = 0.5
"""Width (in cells) of the soft target of the speed head's cell loss."""
CELL_LOSS_WEIGHT: Final = 0.25


def build_model(tf: Any, *, context: bool = False) -> tuple[Any, Any]:
    """Conv2D over (frames, bins), time pooled away, frequency kept as 128 cells (0.49 m/s):
    the heads see every cell alike (a target at a speed never seen in training is still
    found); with ``context``, each cell's features beside a summary of the whole spectrum (a
    car's wheel spread or a second line lies beyond one cell's receptive field, +-40 bins:
    tried for model 1.2.0, it did not help: docs/radar_model.md).
    Presence: per-cell logits, max over the cells. Speed: per label a softmax over the cells,
    the expected cell speed (refined on the spectrum afterwards: ``SpeedRefinement``).

    Returns the model trained and the model shipped (the same layers, ``shipped_model``); both
    have a third output, the softmax over cells: in training for the cell loss that keeps it
    single-peaked, so that the expected speed is one target's, not a blend of two; on the pole
    (since 1.3.0) for the peak cell's speed (``CellSpec``)."""
    keras = tf.keras
    layers = keras.layers
    spec = MODEL_SPEC
    inputs = keras.Input((spec.frames, spec.bins, 1), name="codes")
    x = layers.Rescaling(1 / 64, offset=-40 / 64)(inputs)  # code 40 = 0 dB, the noise floor

    def block(x: Any, filters: int, pool: tuple[int, int], **kwargs: Any) -> Any:
        x = layers.Conv2D(filters, kwargs.pop("kernel", 3), padding="same", use_bias=False,
                          **kwargs)(x)  # fmt: skip
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        return layers.MaxPooling2D(pool)(x)

    x = block(x, 12, (2, 2), kernel=(3, 5), strides=(1, 2))  # 16 x 128 (4 bins a cell)
    x = block(x, 16, (2, 1))  # 8 x 128
    x = block(x, 24, (2, 1), dilation_rate=(1, 2))  # 4 x 128
    x = block(x, 32, (4, 1), dilation_rate=(1, 4))  # 1 x 128: time pooled away
    x = layers.Dropout(0.2)(x)
    cells = x.shape[2]
    if context:
        whole = layers.GlobalMaxPooling2D(keepdims=True)(x)  # 1 x 1: the whole spectrum
        whole = layers.Conv2D(16, 1, activation="relu")(whole)
        x = layers.Concatenate()([x, layers.UpSampling2D((1, cells))(whole)])  # beside each cell
    x = layers.Conv2D(32, (1, 5), padding="same", activation="relu")(x)
    presence = layers.Conv2D(len(LABELS), 1)(x)
    presence = layers.GlobalMaxPooling2D()(presence)
    presence = layers.Activation("sigmoid", name="presence")(presence)
    where = layers.Conv2D(len(LABELS), 1)(x)
    where = layers.Reshape((cells, len(LABELS)))(where)
    where = layers.Permute((2, 1))(where)
    where = layers.Softmax(axis=-1, name="cells")(where)
    expect = layers.Dense(
        1, use_bias=False, trainable=False,
        kernel_initializer=keras.initializers.Constant(cell_centres()[:, None]),
    )  # fmt: skip
    speed = layers.Reshape((len(LABELS),), name="speed")(expect(where))
    trained = keras.Model(inputs, [presence, speed, where])
    return trained, shipped_model(tf, trained)


def shipped_model(tf: Any, model: Any) -> Any:
    """The model the pole runs, from a trained one or one saved by an earlier version (with
    presence and speed only): presence, speed and the cell probabilities, by layer name."""
    layers = ("presence", "speed", "cells")
    return tf.keras.Model(model.inputs, [model.get_layer(name).output for name in layers])


def _speed_loss(tf: Any) -> Any:
    def loss(y_true: Any, y_pred: Any) -> Any:
        target, mask = y_true[:, : len(LABELS)], y_true[:, len(LABELS) :]
        error = tf.keras.losses.huber(target[..., None], y_pred[..., None], delta=0.1)
        return tf.reduce_sum(error * mask, axis=-1) / (tf.reduce_sum(mask, axis=-1) + 1e-3)

    return loss


def _cell_loss(tf: Any) -> Any:
    """Cross-entropy of the speed softmax against a narrow Gaussian about the true speed's
    cell (labels present only): the head learns to put its mass on one target."""
    centres = tf.constant(cell_centres()[None, None, :])
    sigma = CELL_SIGMA * float(cell_centres()[1] - cell_centres()[0])

    def loss(y_true: Any, y_pred: Any) -> Any:
        target, mask = y_true[:, : len(LABELS)], y_true[:, len(LABELS) :]
        wanted = tf.exp(-0.5 * tf.square((centres - target[..., None]) / sigma))
        wanted = wanted / (tf.reduce_sum(wanted, axis=-1, keepdims=True) + 1e-9)
        error = -tf.reduce_sum(wanted * tf.math.log(y_pred + 1e-7), axis=-1)
        return tf.reduce_sum(error * mask, axis=-1) / (tf.reduce_sum(mask, axis=-1) + 1e-3)

    return loss


def _mirrored(tf: Any, codes: Any, present: Any, speed: Any) -> tuple[Any, Any]:
    """A batch with half its windows mirrored in frequency (approaching <-> receding, speeds
    negated): bin b of the mirror is bin -b of the original (bin -256 has no mirror: kept)."""
    x = tf.cast(codes, tf.float32)[..., None]
    mirror = tf.concat([x[:, :, :1], tf.reverse(x, axis=[2])[:, :, :-1]], axis=2)
    flip = tf.random.uniform((tf.shape(x)[0],)) < 0.5
    x = tf.where(flip[:, None, None, None], mirror, x)
    n = len(LABELS)
    sign = tf.where(flip, -1.0, 1.0)[:, None]
    speed = tf.concat([speed[:, :n] * sign, speed[:, n:]], axis=1)
    return x, (present, speed, speed)


def _targets(data: Dataset) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    present = data.present.astype(np.float32)
    speed = np.nan_to_num(data.radial_mps / SPEED_SCALE_MPS, nan=0.0).astype(np.float32)
    return present, np.concatenate([speed, present], axis=1)


def mixed(codes: npt.NDArray[np.uint8], share: float, seed: int) -> npt.NDArray[np.uint8]:
    """A copy with ``share`` of the windows turned into band-mode windows."""
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(rng.random(codes.shape[0]) < share)
    out = codes.copy()
    if chosen.size:
        out[chosen] = band_mode(codes[chosen])
    return out


def convert(tf: Any, model: Any, representative: npt.NDArray[np.uint8]) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def samples() -> Any:
        for window in representative:
            yield [window.reshape(1, *window.shape, 1).astype(np.float32)]

    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    data: bytes = converter.convert()
    return data


def _output_indices(model_bytes: bytes, out_dir: Path) -> tuple[int, int, int]:
    """Which output tensor is presence, speed and cells: the cells are the [1, 4, 128] one; of
    the two [1, 4] ones, presence is the one whose quantisation covers 0..1 (a sigmoid) rather
    than signed speeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "probe.tflite"
    path.write_bytes(model_bytes)
    try:
        outputs = load_model(path).outputs
    finally:
        path.unlink()
    cells = next(i for i, t in enumerate(outputs) if len(t.shape) == 3)
    pair = [i for i in range(len(outputs)) if i != cells]
    ranges = {
        i: (t.scale * (-128 - t.zero_point), t.scale * (127 - t.zero_point))
        for i, t in enumerate(outputs)
    }
    presence = min(pair, key=lambda i: abs(ranges[i][0]) + abs(ranges[i][1] - 1.0))
    speed = next(i for i in pair if i != presence)
    return presence, speed, cells


def _write(out: Path, model_bytes: bytes, meta: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.tflite"
    path.write_bytes(model_bytes)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("pole_agent/models"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/radar_model"))
    parser.add_argument("--train-count", type=int, default=TRAIN_COUNT)
    parser.add_argument("--held-out-count", type=int, default=HELD_OUT_COUNT)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow threads")
    parser.add_argument(
        "--context", action="store_true", help="the global-context variant (did not help)"
    )
    parser.add_argument(
        "--skip-fit", action="store_true", help="reuse the last trained Keras model in --cache"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    t0 = time.monotonic()
    cached = args.cache.is_dir() and any(args.cache.glob("windows-*.npz"))
    train = load_or_generate(
        args.cache, seed=TRAIN_SEED, count=args.train_count, held_out=False, workers=args.workers
    )
    held = load_or_generate(
        args.cache,
        seed=HELD_OUT_SEED,
        count=args.held_out_count,
        held_out=True,
        workers=args.workers,
    )
    generation_s = time.monotonic() - t0
    print(
        f"data: {train.codes.shape[0]} training, {held.codes.shape[0]} held-out windows "
        f"({generation_s:.0f} s)",
        flush=True,
    )

    tf = _tf()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(TRAIN_SEED)
    codes = mixed(train.codes, 1 / 3, TRAIN_SEED)
    present, speed = _targets(train)
    split = int(codes.shape[0] * 0.9)
    x_val = codes[split:, ..., None].astype(np.float32)
    train_set = (
        tf.data.Dataset.from_tensor_slices((codes[:split], present[:split], speed[:split]))
        .shuffle(split, seed=TRAIN_SEED, reshuffle_each_iteration=True)
        .batch(64)
        .map(lambda c, p, s: _mirrored(tf, c, p, s))
        .prefetch(2)
    )
    saved = args.cache / "radar_kerb.keras"
    if args.skip_fit:  # convert and evaluate the last trained model again (no training)
        model = shipped_model(tf, tf.keras.models.load_model(saved, compile=False))
        fit = json.loads(saved.with_suffix(".json").read_text())
        fit_s, args.epochs = fit["fit_s"], fit["epochs"]
    else:
        trained, model = build_model(tf, context=args.context)
        steps = args.epochs * int(np.ceil(split / 64))
        schedule = tf.keras.optimizers.schedules.CosineDecay(3e-3, steps, alpha=0.02)
        trained.compile(
            optimizer=tf.keras.optimizers.Adam(schedule),
            loss=["binary_crossentropy", _speed_loss(tf), _cell_loss(tf)],
            loss_weights=[1.0, 4.0, CELL_LOSS_WEIGHT],
        )
        trained.summary(print_fn=lambda line, **_: print(line))
        t0 = time.monotonic()
        trained.fit(
            train_set,
            validation_data=(x_val, [present[split:], speed[split:], speed[split:]]),
            epochs=args.epochs, batch_size=64, verbose=2,
        )  # fmt: skip
        fit_s = time.monotonic() - t0
        model.save(saved)  # so that --skip-fit can convert and evaluate it again
        saved.with_suffix(".json").write_text(json.dumps({"fit_s": fit_s, "epochs": args.epochs}))

    validation_scores, validation_speeds, validation_cells = model.predict(
        x_val, batch_size=256, verbose=0
    )
    thresholds = choose_thresholds(validation_scores, train.present[split:])
    print(f"thresholds (from validation): {thresholds}", flush=True)
    margins = choose_margins(validation_scores, train.present[split:], thresholds)
    print(f"child / adult verdict margins (from validation): {margins}", flush=True)
    cells = cell_spec(index=0, peak_labels=())
    peak_labels, coarse = choose_peak_labels(
        cells,
        validation_speeds * SPEED_SCALE_MPS,
        validation_cells,
        train.present[split:],
        train.radial_mps[split:],
    )
    print(f"speeds from the peak cell (from validation): {peak_labels}", flush=True)
    refine = choose_refinement(
        codes[split:], coarse, train.present[split:], train.radial_mps[split:]
    )
    print(f"speed refinement (from validation): {refine}", flush=True)

    t0 = time.monotonic()
    representative = codes[np.random.default_rng(2).choice(split, 400, replace=False)]
    model_bytes = convert(tf, model, representative)
    convert_s = time.monotonic() - t0
    presence_index, speed_index, cells_index = _output_indices(model_bytes, args.out)
    cells = cell_spec(index=cells_index, peak_labels=peak_labels)

    training: dict[str, Any] = {
        "data_sha256": train.content_hash(),
        "windows": int(train.codes.shape[0]),
        "validation_windows": int(codes.shape[0] - split),
        "seed": TRAIN_SEED,
        "ranges": dataclasses.asdict(SceneRanges()),
        "band_mode_share": round(1 / 3, 4),
        "held_out": {
            "data_sha256": held.content_hash(),
            "windows": int(held.codes.shape[0]),
            "seed": HELD_OUT_SEED,
            "ranges": "SceneRanges.held_out()",
        },
        "epochs": args.epochs,
        "global_context": args.context,
        "parameters": int(model.count_params()),
        "time_s": {
            "data_generation": round(generation_s, 1),
            "data_generation_note": "windows reused from the cache"
            if cached and generation_s < 60
            else "windows generated by this run",
            "fit": round(fit_s, 1),
            "convert": round(convert_s, 1),
        },
        "machine": f"{os.cpu_count()} cores (shared), TensorFlow {tf.__version__}",
        "command": "make models",
    }
    meta = metadata(
        model_bytes, (presence_index, speed_index), thresholds,
        margins=margins, cells=cells, refine=refine, training=training,
    )  # fmt: skip
    path = _write(args.out, model_bytes, meta)  # written once so the agent's loader can read it

    loaded = RadarModel.load(path, sampling_rate_hz=MODEL_SPEC.sampling_rate_hz)
    meta["evaluation"] = evaluate_held_out(
        loaded.predict, held, thresholds, margins,
        band=band_mode, ci_count=CI_COUNT, statement=STATEMENT,
    )  # fmt: skip
    meta["training"]["time_s"]["total"] = round(time.monotonic() - started, 1)
    _write(args.out, model_bytes, meta)
    print(
        f"wrote {path} ({len(model_bytes)} bytes) and {path.with_suffix('.json')}; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
