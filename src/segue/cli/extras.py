"""Optional dependencies: import one when a command needs it, or say which extra to install.

>>> EXTRAS["onnx"]
('onnx', 'onnxruntime')
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx", "onnxruntime"),
    "serve": ("fastapi", "uvicorn", "httpx", "redis"),
    "scale": ("faiss", "duckdb", "pyspark"),
    "notebooks": ("matplotlib",),
}
"""The top-level modules each extra of ``pyproject.toml`` installs (import names)."""


class MissingExtraError(ImportError):
    """A feature needs an optional dependency that is not installed.

    Args:
        feature: What the user asked for ("ONNX export").
        extra: The extra that installs it ("onnx").
        module: The module that failed to import.
    """

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature, self.extra, self.module = feature, extra, module
        super().__init__(
            f"{feature} needs the optional dependency {module!r}, which is not installed: "
            f"pip install 'segue[{extra}]'",
            name=module,
        )


def require(extra: str, feature: str) -> None:
    """Import every module of ``extra``, or raise :class:`MissingExtraError` naming it.

    Args:
        extra: A key of :data:`EXTRAS`.
        feature: What needs it, for the message.
    """
    for module in EXTRAS[extra]:
        import_optional(module, extra, feature)


def import_optional(module: str, extra: str, feature: str) -> ModuleType:
    """``importlib.import_module(module)``, turning its absence into :class:`MissingExtraError`.

    Only the absence of ``module`` itself is translated; any other import error (a dependency
    of it missing, a broken install) propagates unchanged, with its own message.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or not _same_root(error.name, module):
            raise
        raise MissingExtraError(feature, extra, module) from error


def missing_extra_from(error: ModuleNotFoundError, feature: str) -> MissingExtraError | None:
    """The :class:`MissingExtraError` that ``error`` amounts to, when an extra provides it.

    >>> missing_extra_from(ModuleNotFoundError("x", name="onnxruntime"), "ONNX bundles").extra
    'onnx'
    >>> missing_extra_from(ModuleNotFoundError("x", name="numpy"), "x") is None
    True
    """
    name = (error.name or "").split(".")[0]
    for extra, modules in EXTRAS.items():
        if name in modules:
            return MissingExtraError(feature, extra, name)
    return None


def _same_root(found: str, wanted: str) -> bool:
    """Whether a failed import ``found`` is ``wanted`` or a part of it."""
    return found.split(".")[0] == wanted.split(".")[0]
