"""The TFLite runtime: ai-edge-litert first, tflite-runtime when only it is installed, a clear
error when neither is (pole_agent/drivers/tflite_runtime.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest

from pole_agent.drivers.tflite_runtime import (
    RUNTIMES,
    NoRuntimeError,
    select_runtime,
)
from pole_agent.perception.radar_model import DEFAULT_MODEL, RadarModel


class Importer:
    """Stands in for ``importlib.import_module`` on a machine with a given set of runtimes:
    ``installed`` maps a module name to the module it gives; anything else is not installed.
    Records every name asked for."""

    def __init__(self, installed: dict[str, ModuleType]) -> None:
        self.installed = installed
        self.asked: list[str] = []

    def __call__(self, name: str) -> ModuleType:
        self.asked.append(name)
        if name not in self.installed:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return self.installed[name]


def _litert() -> ModuleType:
    return importlib.import_module("ai_edge_litert.interpreter")


def _as_tflite_runtime() -> ModuleType:
    """A ``tflite_runtime.interpreter`` module whose Interpreter is a real one (this machine's
    ai-edge-litert: the API is the same), so the fallback path runs a real model."""
    module = ModuleType("tflite_runtime.interpreter")
    module.Interpreter = _litert().Interpreter  # type: ignore[attr-defined]
    return module


def test_this_machine_uses_ai_edge_litert() -> None:
    runtime = select_runtime()
    assert runtime.name == "ai-edge-litert" and runtime.skipped == ()
    assert runtime.version.startswith("2.")


def test_ai_edge_litert_is_preferred_and_the_fallback_not_even_imported() -> None:
    importer = Importer(
        {
            "ai_edge_litert.interpreter": _litert(),
            "tflite_runtime.interpreter": _as_tflite_runtime(),
        }
    )
    runtime = select_runtime(importer)
    assert runtime.name == "ai-edge-litert"
    assert importer.asked == ["ai_edge_litert.interpreter"]


def test_falls_back_to_tflite_runtime_and_runs_the_model_with_it() -> None:
    importer = Importer({"tflite_runtime.interpreter": _as_tflite_runtime()})
    runtime = select_runtime(importer, version=lambda dist: "2.14.0")
    assert runtime.name == "tflite-runtime" and runtime.version == "2.14.0"
    assert importer.asked == [module for _, module in RUNTIMES]
    assert len(runtime.skipped) == 1 and runtime.skipped[0].startswith(
        "ai-edge-litert: not importable"
    )
    model = RadarModel.load(DEFAULT_MODEL, sampling_rate_hz=20000, runtime=runtime)
    assert "tflite-runtime 2.14.0" in model.describe()
    reference = RadarModel.load(DEFAULT_MODEL, sampling_rate_hz=20000)
    window = np.random.default_rng(3).integers(30, 60, (32, 512), dtype=np.uint8)
    assert np.allclose(model.predict(window).scores, reference.predict(window).scores)


def test_a_runtime_that_fails_at_import_or_lacks_an_interpreter_is_skipped() -> None:
    broken = ModuleType("ai_edge_litert.interpreter")  # imports, but no Interpreter

    def importer(name: str) -> ModuleType:
        if name == "tflite_runtime.interpreter":
            raise RuntimeError("_ARRAY_API not found")  # what a numpy 1 wheel says under numpy 2
        return broken

    with pytest.raises(NoRuntimeError) as caught:
        select_runtime(importer)
    message = str(caught.value)
    assert "ai-edge-litert: ai_edge_litert.interpreter has no Interpreter" in message
    assert "tflite-runtime: import failed (RuntimeError: _ARRAY_API not found)" in message


def test_no_runtime_at_all_is_a_clear_error() -> None:
    importer = Importer({})
    with pytest.raises(NoRuntimeError) as caught:
        select_runtime(importer)
    assert str(caught.value) == (
        "no TFLite runtime: ai-edge-litert: not importable (No module named "
        "'ai_edge_litert.interpreter'); tflite-runtime: not importable (No module named "
        "'tflite_runtime.interpreter')"
    )
