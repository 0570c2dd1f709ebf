"""Limits on request values shared by every backend: the API, the ONNX runtime and the server.

numpy only (no torch, no onnxruntime), so the HTTP schemas of a torch-free server and the
torch :class:`segue.Recommender` check the same numbers and sample the same way.
"""

from __future__ import annotations

import numpy as np

MAX_EPOCH_SECONDS = 1e10
"""Numeric times must be seconds: 1e10 s is the year 2286, while epoch milliseconds are ~1.7e12
(and microseconds ~1.7e15), so a larger number is a time in a smaller unit, refused rather than
read as a date centuries ahead (which would put every gap in the largest bucket)."""


def sampling_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Unnormalised ``softmax(scores / temperature)`` in float64, for any finite temperature > 0.

    The best score is subtracted *before* dividing: ``(s - max) / t`` is <= 0 for every
    temperature, so nothing overflows (``s / 1e-300`` would be inf, and ``inf - inf`` NaN) and
    a huge temperature gives a uniform draw instead of ``-inf / inf``. ``-inf`` scores (tracks
    the constraints removed) get weight 0. At least one score must be finite.

    Args:
        scores: (V,) scores, ``-inf`` where a track may not be picked.
        temperature: A finite number > 0.

    >>> sampling_weights(np.array([1.0, 0.0, -np.inf]), 1e-300).tolist()
    [1.0, 0.0, 0.0]
    >>> sampling_weights(np.array([1.0, 0.0, -np.inf]), 1e300).tolist()
    [1.0, 1.0, 0.0]
    """
    wide = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(wide)
    shifted = np.where(finite, wide - wide[finite].max(), -np.inf)  # (V,), <= 0
    with np.errstate(over="ignore", under="ignore"):  # a tiny temperature: the others are 0
        return np.exp(shifted / temperature)
