"""The kerb radar model's inference time and size: ``python -m bench.model_inference``.

Loads the shipped model through the agent's own loader (ai-edge-litert, one thread, as on the
pole), classifies ``--windows`` simulated windows (held-out ranges, a seed of its own; generated
first, not timed), and prints the time of ``RadarModel.predict`` (quantise, invoke, dequantise)
and of the runtime's ``invoke`` alone, p50/p99/max in ms, with the model's size. Also the
windowing cost on the reader thread (``SpectrumWindower.push`` per frame), the only part of the
model's work that runs on a radar thread.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.report import percentile, save_figures
from pole_agent.perception.radar_model import DEFAULT_MODEL, InputSpec, RadarModel
from pole_agent.perception.spectrum import SpectrumFrame
from pole_agent.perception.spectrum_window import SpectrumWindower
from simulator.training_data import SceneRanges, generate_dataset
from training.radar_dataset import MODEL_SPEC


def _percentiles(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return (
        f"p50 {np.percentile(ms, 50):6.3f}  p99 {np.percentile(ms, 99):6.3f}  "
        f"max {ms.max():6.3f} ms  (n={len(values)})"
    )


def _frames(codes: npt.NDArray[np.uint8], spec: InputSpec) -> list[SpectrumFrame]:
    """Full-spectrum frames, back to back, whose band holds ``codes``."""
    n, lo = spec.fft_size, spec.band[0]
    out = []
    for i, row in enumerate(codes):
        full = np.full(n, 40, np.uint8)
        full[n // 2 + lo : n // 2 + lo + row.shape[0]] = row
        out.append(
            SpectrumFrame(
                seq=i, uptime_s=1.0 + i * spec.frame_s, sampling_rate_hz=spec.sampling_rate_hz,
                fft_size=n, mode="F", db0=spec.db0, step_db=spec.step_db,
                runs=((-n // 2, n),), codes=full,
            )
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_inference", description=__doc__)
    parser.add_argument("--windows", type=int, default=300, help="distinct windows to classify")
    parser.add_argument("--repeat", type=int, default=5, help="passes over them")
    parser.add_argument("--quick", action="store_true", help="100 windows, 2 passes")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    count, repeat = (100, 2) if args.quick else (args.windows, args.repeat)
    data = generate_dataset(
        count, seed=424242, ranges=SceneRanges.held_out(), spec=MODEL_SPEC, workers=2
    )
    model = RadarModel.load(DEFAULT_MODEL, sampling_rate_hz=MODEL_SPEC.sampling_rate_hz)
    for window in data.codes[:10]:  # warm-up
        model.predict(window)
    predict_s: list[float] = []
    invoke_s: list[float] = []
    tensor = model.model.inputs[0].quantise(data.codes[:1].reshape(1, 32, 512, 1))
    for _ in range(repeat):
        for window in data.codes:
            start = time.perf_counter()
            model.predict(window)
            predict_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.model.run([tensor])
            invoke_s.append(time.perf_counter() - start)

    windower = SpectrumWindower(model.spec)
    frames = _frames(data.codes[0], model.spec)
    push_s: list[float] = []
    for _ in range(200):
        for frame in frames:
            start = time.perf_counter()
            windower.push(frame)
            push_s.append(time.perf_counter() - start)
    windower.reset()

    print(f"kerb radar model {model.describe()}, {DEFAULT_MODEL.name}")
    print(
        f"  size              {model.model.size_bytes} bytes "
        f"({model.model.size_bytes / 1024:.1f} KiB)"
    )
    print(f"  predict (window)  {_percentiles(predict_s)}")
    print(f"  invoke only       {_percentiles(invoke_s)}")
    print(f"  windower.push     {_percentiles(push_s)}  per frame, on the reader thread")
    print(f"  windows/s at p50  {1 / statistics.median(predict_s):.0f} (the pole needs 2.4)")
    ms = {name: [v * 1000 for v in values] for name, values in
          (("predict", predict_s), ("invoke", invoke_s), ("push", push_s))}  # fmt: skip
    save_figures(
        args.json,
        {
            "model": DEFAULT_MODEL.name,
            "size_bytes": model.model.size_bytes,
            **{f"{k}_n": len(v) for k, v in ms.items()},
            **{f"{k}_p{q}": percentile(v, q) for k, v in ms.items() for q in (50, 99)},
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
