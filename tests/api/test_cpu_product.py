"""The numpy catalogue product agrees with torch's, and falls back where numpy cannot serve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.api.cpu_product import (
    catalogue_product,
    gathered_product,
    set_num_threads,
    to_huge_pages,
)


@pytest.fixture
def table() -> torch.Tensor:
    return torch.randn(1001, 64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("rows", [1, 2, 17])
def test_matches_torch_to_float_rounding(table: torch.Tensor, rows: int) -> None:
    hidden = torch.randn(rows, 64, generator=torch.Generator().manual_seed(rows))
    got = catalogue_product(hidden, table)
    assert got.shape == (rows, 1001) and got.dtype == torch.float32
    torch.testing.assert_close(got, hidden.double().matmul(table.double().T).float())


def test_strided_queries_are_read_correctly(table: torch.Tensor) -> None:
    wide = torch.randn(3, 128, generator=torch.Generator().manual_seed(1))
    hidden = wide[:, ::2]  # (3, 64), not contiguous
    torch.testing.assert_close(catalogue_product(hidden, table), hidden @ table.T)


def test_result_is_writable_and_owns_its_memory(table: torch.Tensor) -> None:
    # Callers mask scores in place (padding, bans): the product must be a fresh array.
    hidden = torch.randn(1, 64)
    scores = catalogue_product(hidden, table)
    scores[:, 0] = float("-inf")
    assert torch.isfinite(catalogue_product(hidden, table)).all()


def test_autograd_and_float64_go_through_torch(table: torch.Tensor) -> None:
    hidden = torch.randn(2, 64, requires_grad=True)
    out = catalogue_product(hidden, table)
    out.sum().backward()  # would fail if numpy had computed it
    assert hidden.grad is not None
    wide = catalogue_product(hidden.detach().double(), table.double())
    assert wide.dtype == torch.float64


@pytest.mark.parametrize("rows", [1, 3])
def test_gathered_product_scores_each_rows_own_candidates(table: torch.Tensor, rows: int) -> None:
    hidden = torch.randn(rows, 64, generator=torch.Generator().manual_seed(rows))
    candidates = np.random.default_rng(rows).integers(0, 1001, (rows, 40))  # repeats allowed
    got = gathered_product(hidden, table, candidates)
    assert got.shape == (rows, 40) and got.dtype == torch.float32
    full = hidden.double().matmul(table.double().T)  # (rows, V)
    expected = torch.gather(full, 1, torch.from_numpy(candidates)).float()
    torch.testing.assert_close(got, expected)


def test_gathered_product_with_autograd_goes_through_torch(table: torch.Tensor) -> None:
    hidden = torch.randn(2, 64, requires_grad=True)
    candidates = np.array([[1, 5, 9], [0, 2, 1000]])
    out = gathered_product(hidden, table, candidates)
    out.sum().backward()  # would fail if numpy had computed it
    assert hidden.grad is not None
    torch.testing.assert_close(out.detach(), gathered_product(hidden.detach(), table, candidates))


def test_set_num_threads_sizes_torch_and_blas() -> None:
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    try:
        set_num_threads(1)
        assert torch.get_num_threads() == 1
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(n == 1 for n in blas)
        assert np.isfinite(np.ones((4, 4)) @ np.ones(4)).all()
    finally:
        set_num_threads(before)


def test_to_huge_pages_copies_cpu_tables_and_leaves_others():
    table = torch.randn(300, 8)
    moved = to_huge_pages(table)
    assert torch.equal(moved, table) and moved.data_ptr() != table.data_ptr()
    assert moved.dtype == table.dtype and moved.is_contiguous()
    trained = torch.randn(3, 2, requires_grad=True)
    assert to_huge_pages(trained) is trained  # autograd's tensors are not the serving table's
    meta = torch.empty(4, 4, device="meta")
    assert to_huge_pages(meta) is meta
