"""Row-wise Adagrad against a per-row reference; sparse and dense gradients agree."""

from __future__ import annotations

import pytest
import torch

from segue.training.optimizers import RowWiseAdagrad


def _reference(weight, grads, lr, eps, init):
    """The update written row by row, in float64."""
    w = weight.clone().double()
    acc = torch.full((w.shape[0],), init, dtype=torch.float64)
    for g in grads:
        g = g.double()
        for i in range(w.shape[0]):
            if not g[i].any():
                continue
            acc[i] += (g[i] ** 2).mean()
            w[i] -= lr * g[i] / (acc[i].sqrt() + eps)
    return w, acc


def test_matches_reference_over_several_steps():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 4, generator=gen)
    grads = []
    for _ in range(4):
        g = torch.randn(6, 4, generator=gen)
        g[torch.randint(0, 6, (2,), generator=gen)] = 0.0  # untouched rows
        grads.append(g)
    param = torch.nn.Parameter(weight.clone())
    opt = RowWiseAdagrad([param], lr=0.1, eps=1e-6, initial_accumulator_value=0.1)
    for g in grads:
        param.grad = g.clone()
        opt.step()
    want, acc = _reference(weight, grads, 0.1, 1e-6, 0.1)
    torch.testing.assert_close(param.data.double(), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(opt.state[param]["sum"].double(), acc, rtol=1e-5, atol=1e-6)


def test_sparse_gradient_equals_dense_and_keeps_one_scalar_per_row():
    table = torch.nn.Embedding(10, 3, sparse=True)
    dense_table = torch.nn.Embedding(10, 3)
    dense_table.weight.data.copy_(table.weight.data)
    sparse_opt = RowWiseAdagrad(table.parameters(), lr=0.3)
    dense_opt = RowWiseAdagrad(dense_table.parameters(), lr=0.3)
    ids = torch.tensor([[1, 4, 4], [7, 1, 2]])  # row 4 twice: its gradients add up
    for module, opt in ((table, sparse_opt), (dense_table, dense_opt)):
        for _ in range(3):
            opt.zero_grad()
            module(ids).pow(2).sum().backward()
            opt.step()
    assert table.weight.grad.is_sparse
    torch.testing.assert_close(table.weight.data, dense_table.weight.data)
    untouched = [0, 3, 5, 6, 8, 9]
    assert (sparse_opt.state[table.weight]["sum"][untouched] == 0).all()
    assert sparse_opt.state[table.weight]["sum"].shape == (10,)


def test_state_dict_round_trip_and_bad_arguments():
    param = torch.nn.Parameter(torch.ones(3, 2))
    opt = RowWiseAdagrad([param], lr=0.1)
    param.grad = torch.ones(3, 2)
    opt.step()
    other = RowWiseAdagrad([torch.nn.Parameter(torch.ones(3, 2))], lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.state_dict()["state"][0]["sum"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="2-D"):
        RowWiseAdagrad([torch.nn.Parameter(torch.ones(3))])
    with pytest.raises(ValueError, match="lr > 0"):
        RowWiseAdagrad([param], lr=0.0)
