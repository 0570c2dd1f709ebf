"""Index parameters: sized from the catalogue, overridable, validated."""

from __future__ import annotations

import pytest

from segue.retrieval.params import IndexParams, default_params


def test_ivf_sizing_grows_with_the_square_root_of_the_catalogue():
    small, large = default_params(100_000, 64), default_params(1_000_000, 64)
    # round(8 sqrt(N)) directions, each cut into 4 norm tiers
    assert small.nlist == 4 * 2530 and large.nlist == 4 * 8000
    assert small.norm_tiers == large.norm_tiers == 4
    assert 1 <= small.nprobe <= small.nlist and large.nprobe < large.nlist
    assert large.train_rows == 40 * 8000  # 40 rows per direction: a sample, not the table


def test_small_catalogues_get_one_list_per_direction():
    params = default_params(19_999, 64, "ivf_pq")
    assert params.norm_tiers == 1 and params.nlist == 19_999 // 39  # >= 39 rows a list
    assert params.nprobe == round(params.nlist * 0.1)  # probed by angle: a tenth


@pytest.mark.parametrize(
    ("n_tracks", "fraction", "candidates"),
    [
        (60_000, 0.02, 1000),
        (1_000_000, 0.02, 1000),
        (10_000_000, 0.04, 3000),
        (100_000_000, 0.08, 9000),
    ],
)
def test_the_scanned_fraction_and_the_re_rank_grow_with_the_catalogue(
    n_tracks, fraction, candidates
):
    """A fraction of the lists, not a multiple of sqrt(nlist) (9.5% at 1M but 5.3% at 10M,
    recall 0.943); 2% of the norm-tiered lists up to 1M, doubled, and the re-rank tripled,
    per tenfold beyond."""
    params = default_params(n_tracks, 64, "ivf_pq")
    assert params.nprobe / params.nlist == pytest.approx(fraction, abs=1e-3)
    assert params.candidates == candidates
    assert params.spherical and params.pq_bits == 4
    assert params.coarse_hnsw == (params.nlist // params.norm_tiers >= 8192)  # directions
    assert default_params(n_tracks, 64, "ivf_flat").candidates == 200  # exact in the index


def test_exhaustive_and_graph_kinds_are_not_ivf_sized():
    for kind in ("flat", "hnsw"):
        params = default_params(1_000_000, 64, kind)
        assert params.nlist == params.nprobe == 0 and not params.spherical


def test_tiny_catalogues_keep_enough_rows_per_list():
    params = default_params(100, 8)
    assert params.nlist == 100 // 39 and params.train_rows == 80  # >= 39 rows per list


def test_pq_sub_quantizers_divide_the_width():
    assert default_params(10_000, 64, "ivf_pq").pq_m == 32
    assert default_params(10_000, 30, "ivf_pq").pq_m == 15
    assert default_params(10_000, 64, "hnsw").ef_search >= default_params(10, 64, "hnsw").candidates


def test_overrides_replace_sized_values():
    assert default_params(1_000_000, 64, nprobe=7, candidates=50).nprobe == 7


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "lsh"}, "index kind"),
        ({"kind": "ivf_flat", "nlist": 10, "nprobe": 11}, "nprobe"),
        ({"kind": "flat", "candidates": 0}, "candidates"),
        ({"kind": "hnsw", "ef_search": 0}, "HNSW"),
    ],
)
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        IndexParams(**values)


def test_round_trip_through_a_dict_and_unknown_keys_refused():
    params = default_params(5000, 16, "ivf_pq")
    assert IndexParams.from_dict(params.to_dict()) == params
    with pytest.raises(ValueError, match="unknown index parameters"):
        IndexParams.from_dict({**params.to_dict(), "code": "rm -rf"})
