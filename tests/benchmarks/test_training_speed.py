"""Harness logic of benchmarks.training_speed, on tiny models: FLOP counts, peak, worker."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import training_speed as speed
from segue.data.batch import SequenceBatch
from segue.data.pipeline import prepare_data
from segue.data.synthetic import generate_listening_log
from segue.models import sasrec
from segue.training.losses import loss_for

B, T, D, H, N_TRACKS = 2, 5, 8, 2, 10


def tiny_step(targets: torch.Tensor) -> dict:
    model = sasrec(N_TRACKS, d_model=D, n_layers=1, n_heads=H, max_len=T, dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    tracks = torch.randint(1, N_TRACKS + 1, (B, T), generator=gen)
    batch = SequenceBatch(tracks=tracks, targets=targets)
    return speed.model_flops_per_step(model, batch, loss_for("softmax", N_TRACKS))


def test_flops_of_a_tiny_step_equal_the_hand_count():
    counts = tiny_step(torch.randint(1, N_TRACKS + 1, (B, T)))
    rows = B * T  # every position real, every position a target
    # One block, d_ff = d_model: qkv (D -> 3D), proj (D -> D), two MLP layers (D -> D).
    linear_forward = 2 * rows * D * (3 * D + D + D + D)
    attention_forward = 2 * B * H * T * T * (D // H) * 2  # Q K^T and P V
    attention_backward = 2 * B * H * T * T * (D // H) * 5  # recompute + 4 gradient products
    blocks = 3 * linear_forward + attention_forward + attention_backward  # backward = 2 x linear
    # Chunked softmax: logits forward, then recompute, grad of hidden, grad of embeddings.
    output = 4 * 2 * rows * N_TRACKS * D
    assert counts["output_layer"] == output
    assert counts["blocks"] == blocks
    assert counts["total"] == blocks + output
    assert counts["output_share"] == pytest.approx(output / (blocks + output))


def test_only_positions_with_a_target_are_scored():
    targets = torch.randint(1, N_TRACKS + 1, (B, T))
    targets[:, :3] = 0  # 4 of 10 positions keep a target
    counts = tiny_step(targets)
    assert counts["targets"] == 4
    assert counts["output_layer"] == 4 * 2 * 4 * N_TRACKS * D


def test_matmul_peak_is_positive_finite_and_restores_threads():
    before = torch.get_num_threads()
    peak = speed.matmul_peak(threads=1, size=64, seconds=0.02)
    assert torch.get_num_threads() == before
    assert sorted(peak["by_size"]) == [16, 32, 64]
    assert math.isfinite(peak["gflops"]) and peak["gflops"] > 0
    assert 0 < peak["median_gflops"] <= peak["gflops"]
    assert peak["gflops"] == max(s["gflops"] for s in peak["by_size"].values())
    assert peak["threads"] == 1 and peak["size"] in peak["by_size"]


def test_matmul_peak_rejects_bad_arguments():
    with pytest.raises(ValueError, match="threads"):
        speed.matmul_peak(threads=0)


@pytest.fixture(scope="module")
def windows():
    log = generate_listening_log(n_users=30, n_events=1500, seed=2)
    return prepare_data(log, split="leave_last_out", max_len=16).train


def test_mean_flops_per_step_counts_each_batch(windows):
    from segue.training.trainer import TrainerConfig

    model = sasrec(int(windows.encoded.tracks.max()), d_model=8, n_layers=1, max_len=16)
    settings = TrainerConfig(batch_size=8, max_steps_per_epoch=3)
    flops = speed.mean_flops_per_step(model, windows, loss_for("softmax", 1), settings, 2)
    assert flops["steps_per_epoch"] == 3 and flops["flop_batches_counted"] == 2
    assert flops["flops_per_step"] == pytest.approx(
        flops["output_layer_flops_per_step"] + flops["blocks_flops_per_step"]
    )
    assert all(p.grad is None for p in model.parameters())


def test_flops_of_run_counts_an_epoch_of_the_configured_training(tmp_path):
    flops = speed.flops_of_run(tmp_path, ["debug=default", "trainer.max_steps_per_epoch=2"], 1)
    assert flops["steps_per_epoch"] == 2 and flops["flop_batches_counted"] == 1
    assert flops["flops_per_epoch"] == pytest.approx(2 * flops["flops_per_step"])
    assert flops["flops_per_step"] > 0


@pytest.mark.slow
def test_measure_training_runs_a_worker_and_returns_every_key():
    result = speed.measure_training(
        ["debug=default"], epochs=1, peak_gflops=100.0, flop_batches=2, validate=False
    )
    for key in ("seconds_per_epoch", "sequences_per_second", "steps", "flops_per_step",
                "gflops_achieved", "fraction_of_matmul_peak", "peak_rss_mb"):  # fmt: skip
        assert key in result and math.isfinite(result[key]) and result[key] > 0, key
    assert result["epochs"] == 1 and len(result["epoch_seconds"]) == 1
    assert result["steps"] == result["steps_per_epoch"]
    assert result["gflops_achieved"] == pytest.approx(
        result["flops_per_step"] * result["steps"] / result["train_seconds"] / 1e9
    )
    assert result["fraction_of_matmul_peak"] == pytest.approx(result["gflops_achieved"] / 100.0)
    assert result["peak_rss_mb"] >= result["rss_before_training_mb"]
