"""The TFLite runtime: the only module that imports ``ai_edge_litert`` or ``tflite_runtime``.

``ai-edge-litert`` (Google's successor to ``tflite-runtime``, same ``Interpreter`` API, works
with numpy 2) is preferred; ``tflite-runtime`` is the fallback where only it is installed (it
needs numpy < 2 and runs int8 convolutions far slower: docs/radar_model.md). ``select_runtime``
tries them in order and says why each one it skipped was unusable; ``load_model`` turns every
failure to read or open a model into ``ModelLoadError`` with a sentence naming the file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

#: (distribution, module holding ``Interpreter``), most preferred first.
RUNTIMES: Final = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)
TFLITE_IDENTIFIER: Final = b"TFL3"
"""The FlatBuffer file identifier of a .tflite file (bytes 4..8)."""
MAX_MODEL_BYTES: Final = 64 * 1024 * 1024

Importer = Callable[[str], ModuleType]


class NoRuntimeError(Exception):
    """No TFLite runtime can be imported; the message says why for each one tried."""


class ModelLoadError(Exception):
    """A model file that cannot be used: missing, unreadable, not a TFLite model, or refused by
    the runtime. The message names the file."""


@dataclass(frozen=True)
class Runtime:
    """A usable runtime: its distribution name, version and ``Interpreter`` class."""

    name: str
    version: str
    interpreter: Callable[..., Any]
    skipped: tuple[str, ...] = ()
    """Why each more preferred runtime was not used (empty when the first one was)."""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def select_runtime(
    importer: Importer = importlib.import_module,
    candidates: Sequence[tuple[str, str]] = RUNTIMES,
    version: Callable[[str], str] = _version,
) -> Runtime:
    """The first runtime of ``candidates`` that imports and has an ``Interpreter``.

    ``importer`` and ``version`` are injectable so that the fallback can be tested on a machine
    that has only one runtime installed.
    """
    reasons: list[str] = []
    for distribution, module_name in candidates:
        try:
            module = importer(module_name)
        except ImportError as err:
            reasons.append(f"{distribution}: not importable ({err})")
            continue
        except Exception as err:  # a broken binary wheel can raise anything at import
            reasons.append(f"{distribution}: import failed ({err.__class__.__name__}: {err})")
            continue
        interpreter = getattr(module, "Interpreter", None)
        if not callable(interpreter):
            reasons.append(f"{distribution}: {module_name} has no Interpreter")
            continue
        return Runtime(distribution, version(distribution), interpreter, tuple(reasons))
    raise NoRuntimeError("no TFLite runtime: " + "; ".join(reasons))


@dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor: where it is, its shape, type and int8 quantisation."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    def quantise(self, values: npt.ArrayLike) -> npt.NDArray[Any]:
        """Real values to this tensor's type (identity for a float tensor)."""
        array = np.asarray(values, dtype=np.float32)
        if not np.issubdtype(self.dtype, np.integer) or self.scale == 0:
            return array.astype(self.dtype)
        info = np.iinfo(self.dtype)
        q = np.rint(array / self.scale) + self.zero_point
        out: npt.NDArray[Any] = np.clip(q, info.min, info.max).astype(self.dtype)
        return out

    def dequantise(self, values: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        if not np.issubdtype(self.dtype, np.integer) or self.scale == 0:
            return np.asarray(values, dtype=np.float32)
        return ((values.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def _tensor(detail: dict[str, Any]) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(
        name=str(detail.get("name", "")),
        index=int(detail["index"]),
        shape=tuple(int(n) for n in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )


class TfliteModel:
    """A loaded model with its tensors allocated. Not thread-safe: one thread runs it."""

    def __init__(self, interpreter: Any, runtime: Runtime, path: Path, size_bytes: int) -> None:
        self._interpreter = interpreter
        self.runtime = runtime
        self.path = path
        self.size_bytes = size_bytes
        self.inputs = [_tensor(d) for d in interpreter.get_input_details()]
        self.outputs = [_tensor(d) for d in interpreter.get_output_details()]

    def run(self, inputs: Sequence[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
        """Raw output tensors (copies) for raw input tensors, in the model's tensor order."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(inputs)}")
        for info, value in zip(self.inputs, inputs, strict=True):
            if tuple(value.shape) != info.shape or value.dtype != info.dtype:
                raise ValueError(
                    f"input {info.name!r} is {info.dtype}{list(info.shape)}, "
                    f"got {value.dtype}{list(value.shape)}"
                )
            self._interpreter.set_tensor(info.index, value)
        self._interpreter.invoke()
        return [np.array(self._interpreter.get_tensor(info.index)) for info in self.outputs]


def load_model(path: Path, runtime: Runtime | None = None, *, num_threads: int = 1) -> TfliteModel:
    """Read, check and open a .tflite file; raises ModelLoadError (or NoRuntimeError)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} is missing") from None
    except OSError as err:
        raise ModelLoadError(f"model file {path}: cannot read it: {err.strerror or err}") from None
    if len(data) > MAX_MODEL_BYTES:
        raise ModelLoadError(f"model file {path} is {len(data)} bytes, more than any model here")
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelLoadError(f"model file {path} is not a TFLite model (no TFL3 identifier)")
    runtime = runtime or select_runtime()
    try:
        interpreter = runtime.interpreter(model_content=data, num_threads=num_threads)
        interpreter.allocate_tensors()
    except Exception as err:  # the runtimes raise ValueError or RuntimeError on corrupt files
        text = str(err).strip()
        detail = text.splitlines()[0] if text else err.__class__.__name__
        raise ModelLoadError(
            f"model file {path} could not be opened by {runtime.name} {runtime.version}: "
            f"{detail} (a corrupt file, or a runtime that cannot run it)"
        ) from None
    return TfliteModel(interpreter, runtime, path, len(data))
