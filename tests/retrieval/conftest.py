"""Small clustered catalogues and tiny recommenders for the retrieval tests (FAISS needed)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

pytest.importorskip("faiss", reason="segue.retrieval needs faiss-cpu (extra 'scale')")


def clustered_table(
    n_tracks: int, dim: int = 16, n_clusters: int = 12, seed: int = 0
) -> np.ndarray:
    """(n_tracks + 1, dim) float32: tracks around a few centres, padding row 0 all zeros."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)) * 2
    members = rng.integers(0, n_clusters, n_tracks)
    table = np.zeros((n_tracks + 1, dim), dtype=np.float32)
    table[1:] = centres[members] + rng.standard_normal((n_tracks, dim))
    return table


@pytest.fixture(autouse=True, scope="package")
def one_thread() -> Iterator[None]:
    """One thread for torch and FAISS: tiny tensors, a shared 2-core machine."""
    import faiss

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(before)
