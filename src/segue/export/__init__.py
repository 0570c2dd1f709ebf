"""Edge deployment: ONNX bundles and a runtime that needs only numpy and onnxruntime.

This package imports nothing at import time, so ``from segue.export.runtime import
OnnxRecommender`` pulls in no torch; ``export_onnx`` (which needs torch) loads on first use.

Example::

    from segue.export import export_onnx
    from segue.export.runtime import OnnxRecommender

    export_onnx("outputs/best.pt", "outputs/bundle")
    OnnxRecommender.load("outputs/bundle").recommend(["track-1", "track-2"], k=10)
"""

from __future__ import annotations

from typing import Any

__all__ = ["OnnxRecommender", "export_onnx", "write_bundle"]

_HOMES = {
    "OnnxRecommender": "segue.export.runtime",
    "export_onnx": "segue.export.onnx_export",
    "write_bundle": "segue.export.onnx_export",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import a public name's module only when the name is first used."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
