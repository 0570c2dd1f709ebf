"""The int8 kernel against the chunked reference (``Int8Rows.chunked_scores``), on both
backends (Numba and onnxruntime's MLAS GEMM), and the backends against each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segue.compress.int8 import Int8Rows, catalogue_rows, int8_scores, quantize_model
from segue.export import int8_kernel, int8_numba
from segue.export.int8_kernel import backend_installed
from tests.compress.conftest import tiny_model

pytestmark = pytest.mark.skipif(
    not backend_installed(), reason="no int8 kernel backend (extra 'onnx')"
)
BACKENDS = ["numba", "onnxruntime"]


def installed(backend: str) -> str:
    if not backend_installed(backend):
        pytest.skip(f"the {backend} backend is not installed (extra 'onnx')")
    return backend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return installed(request.param)


@pytest.fixture
def mlas() -> str:
    return installed("onnxruntime")


def random_rows(n: int, dim: int, seed: int) -> Int8Rows:
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, dim, generator=gen) * torch.rand(n, 1, generator=gen) * 3
    weight[3] = 0  # an all-zero row (scale 0)
    return Int8Rows.quantize(weight)


@pytest.mark.parametrize("seed", range(4))
def test_kernel_is_within_its_stated_bound_of_the_reference(seed, backend):
    rows = random_rows(700, 24, seed).with_kernel(threads=1, backend=backend)
    assert rows.kernel is not None
    gen = torch.Generator().manual_seed(100 + seed)
    hidden = torch.randn(5, 24, generator=gen) * torch.tensor([[1.0], [10.0], [0.01], [3.0], [0.5]])
    hidden[2, :5] = 0  # a query with exact zeros
    reference = rows.chunked_scores(hidden)
    fast = rows.scores(hidden)
    bound = rows.kernel.query_error_bound(hidden)
    error = (fast - reference).abs()
    float_rounding = 1e-5 * reference.abs().clamp_min(1.0)
    assert (error <= bound + float_rounding).all()
    weight_bound = Int8Rows(rows.values, rows.scales).score_error_bound(hidden)
    assert (bound <= weight_bound / 20).all()  # negligible next to the int8 table's own error
    assert fast[:, 3].eq(0).all()


def test_integer_dot_products_are_exact(backend):
    """With a query that two digits represent exactly, the kernel equals int64 arithmetic."""
    rows = random_rows(300, 16, 7)
    rows = Int8Rows(rows.values, torch.ones(300)).with_kernel(threads=1, backend=backend)
    q = torch.randint(-127, 128, (3, 16), generator=torch.Generator().manual_seed(1))
    q[:, 0] = 127  # so that s1 = 1 exactly and the second digit is 0
    exact = (q.long() @ rows.values.long().T).float()
    assert torch.equal(rows.scores(q.float()), exact)


def test_zero_query_and_shards(monkeypatch, mlas):
    monkeypatch.setattr(int8_kernel, "SHARD_BYTES", 16 * 100)  # 100 rows per session
    rows = random_rows(350, 16, 3).with_kernel(threads=1, backend=mlas)
    assert len(rows.kernel.sessions) == 4
    hidden = torch.randn(2, 16, generator=torch.Generator().manual_seed(2))
    hidden[1] = 0
    error = (rows.scores(hidden) - rows.chunked_scores(hidden)).abs()
    assert (error <= rows.kernel.query_error_bound(hidden) + 1e-5).all()
    assert rows.scores(hidden)[1].eq(0).all()


def test_query_digits_reconstruct_the_query():
    h = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    digits, steps = int8_kernel.query_digits(h)
    q = digits.astype(np.float64).reshape(4, 2, 32) - 128
    rebuilt = (q * steps.astype(np.float64)[:, :, None]).sum(axis=1)
    assert (np.abs(rebuilt - h) <= steps[:, 1:] / 2 + 1e-7).all()
    np.testing.assert_allclose(steps[:, 0], steps[:, 1] * int8_kernel.DIGIT_RATIO, rtol=1e-6)
    assert np.abs(q).max() <= 127


def test_bad_inputs_are_named(backend):
    with pytest.raises(ValueError, match="int8"):
        int8_kernel.Int8Kernel(np.zeros((3, 4), np.float32), np.ones(3, np.float32))
    rows = random_rows(10, 8, 0).with_kernel(threads=1, backend=backend)
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        rows.kernel.scores(torch.zeros(2, 5))


def test_quantized_model_scores_through_the_cached_kernel():
    quantized = quantize_model(tiny_model())
    first, second = catalogue_rows(quantized), catalogue_rows(quantized)
    assert first.kernel is not None and second is first  # built once per table
    hidden = torch.randn(3, 16, generator=torch.Generator().manual_seed(5))
    scores = int8_scores(quantized, hidden)
    reference = first.chunked_scores(hidden)
    reference[:, 0] = float("-inf")
    bound = first.kernel.query_error_bound(hidden) + 1e-5
    assert torch.isinf(scores[:, 0]).all()
    assert ((scores - reference)[:, 1:].abs() <= bound[:, 1:]).all()


@pytest.mark.parametrize("dim", [16, 600])
def test_full_range_digits_do_not_overflow(dim, backend):
    """Both digits at full range against a full-range table: 254 y1 + y2 needs int64 from
    D = 518 on, and the kernel must switch to it rather than wrap around."""
    gen = torch.Generator().manual_seed(dim)
    values = torch.randint(-127, 128, (50, dim), generator=gen, dtype=torch.int8)
    values[0] = torch.where(values[0] >= 0, 127, -127)  # the largest |y| a table can give
    rows = Int8Rows(values, torch.ones(50)).with_kernel(threads=1, backend=backend)
    q1 = torch.where(values[0] >= 0, 127, -127).long()  # aligned with row 0: y1 = 127 ||v||_1
    q2 = -q1  # |h| = 126.5 but h[0] = 127, so that s1 = 1 and s2 = 1 / 254 exactly
    q2[0] = 0
    hidden = (q1.double() + q2.double() / int8_kernel.DIGIT_RATIO).float()[None, :]
    exact = (q1 * int8_kernel.DIGIT_RATIO + q2) @ values.long().T  # int64 throughout
    expected = exact.double() / int8_kernel.DIGIT_RATIO
    assert exact.abs().max() >= 2**31 if dim == 600 else exact.abs().max() < 2**31
    torch.testing.assert_close(rows.scores(hidden).double()[0], expected, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("seed", range(3))
def test_one_digit_kernel_is_within_its_stated_bound(seed, backend):
    """The plain int8 GEMV: the query rounded to one digit, off by at most its stated bound,
    which is the query's own rounding (far above the two-digit kernel's)."""
    rows = random_rows(600, 24, seed)
    one, two = (
        rows.with_kernel(threads=1, digits=1, backend=backend),
        rows.with_kernel(threads=1, digits=2, backend=backend),
    )
    assert one.kernel is not None and two.kernel is not None
    hidden = torch.randn(4, 24, generator=torch.Generator().manual_seed(seed)) * 3
    reference = rows.chunked_scores(hidden)
    bound = one.kernel.query_error_bound(hidden)
    error = (one.scores(hidden) - reference).abs()
    assert (error <= bound + 1e-5 * reference.abs().clamp_min(1.0)).all()
    assert error.max() > 20 * (two.scores(hidden) - reference).abs().max()  # really one digit
    # One step of s1 where two digits leave one of s2 = s1 / 254.
    two_digit_bound = two.kernel.query_error_bound(hidden)
    torch.testing.assert_close(bound, int8_kernel.DIGIT_RATIO * two_digit_bound)


def test_one_digit_of_an_integer_query_is_exact(backend):
    rows = random_rows(300, 16, 8)
    rows = Int8Rows(rows.values, torch.ones(300)).with_kernel(threads=1, digits=1, backend=backend)
    q = torch.randint(-127, 128, (3, 16), generator=torch.Generator().manual_seed(2))
    q[:, 0] = -127  # s1 = 1 exactly: the one digit is the query itself
    assert torch.equal(rows.scores(q.float()), (q.long() @ rows.values.long().T).float())


def test_one_digit_query_reconstructs_within_half_a_step():
    h = np.random.default_rng(1).standard_normal((3, 20)).astype(np.float32)
    digits, steps = int8_kernel.query_digits(h, 1)
    assert digits.shape == (3, 20) and steps.shape == (3, 1)
    rebuilt = (digits.astype(np.float64) - 128) * steps.astype(np.float64)
    assert (np.abs(rebuilt - h) <= steps / 2 * (1 + 1e-6)).all()


def test_digit_count_and_scales_are_checked():
    values = np.zeros((5, 4), np.int8)
    with pytest.raises(ValueError, match="digits"):
        int8_kernel.Int8Kernel(values, np.ones(5, np.float32), threads=1, digits=3)
    with pytest.raises(ValueError, match=r"scales must be \(5,\)"):
        int8_kernel.Int8Kernel(values, np.ones(4, np.float32), threads=1)


@pytest.mark.parametrize("digits", [1, 2])
def test_threads_sharing_a_kernel_get_their_own_answers(digits, backend):
    """Each thread writes the integer products into a scratch buffer of its own; answers from
    8 threads at once equal the same calls made one at a time, and never alias the scratch."""
    from concurrent.futures import ThreadPoolExecutor

    rows = random_rows(5000, 32, 4).with_kernel(threads=1, digits=digits, backend=backend)
    assert rows.kernel is not None
    queries = [
        np.random.default_rng(s).standard_normal((1 + s % 3, 32)).astype(np.float32)
        for s in range(48)
    ]
    alone = [rows.kernel.score_array(q) for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(rows.kernel.score_array, queries))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)
    first = rows.kernel.score_array(queries[0])
    rows.kernel.score_array(queries[1])  # the same thread's scratch again
    np.testing.assert_array_equal(first, alone[0])


def test_large_outputs_are_not_kept_per_thread(monkeypatch, mlas):
    monkeypatch.setattr(int8_kernel, "SCRATCH_MAX_ENTRIES", 2 * 400)
    rows = random_rows(400, 16, 6)
    fast = rows.with_kernel(threads=1, backend=mlas)
    assert fast.kernel is not None
    hidden = torch.randn(3, 16, generator=torch.Generator().manual_seed(6))
    small = fast.scores(hidden[:1])  # 2 digit rows x 400: kept
    kept = fast.kernel._scratch.dots
    large = fast.scores(hidden)  # 6 x 400: a buffer of its own
    assert fast.kernel._scratch.dots is kept and kept.size == 800
    reference = rows.chunked_scores(hidden)
    bound = fast.kernel.query_error_bound(hidden) + 1e-5
    assert ((large - reference).abs() <= bound).all()
    assert torch.equal(small[0], large[0])


def test_sharded_one_digit_kernel(monkeypatch, mlas):
    monkeypatch.setattr(int8_kernel, "SHARD_BYTES", 16 * 100)
    monkeypatch.setattr(int8_kernel, "COMBINE_COLUMNS", 7)  # blocks that do not divide a shard
    rows = random_rows(350, 16, 5)
    for digits in (1, 2):
        fast = rows.with_kernel(threads=1, digits=digits, backend=mlas)
        assert fast.kernel is not None and len(fast.kernel.sessions) == 4
        hidden = torch.randn(3, 16, generator=torch.Generator().manual_seed(digits))
        error = (fast.scores(hidden) - rows.chunked_scores(hidden)).abs()
        assert (error <= fast.kernel.query_error_bound(hidden) + 1e-5).all()


class SaturatingSession:
    """A stand-in for MLAS's u8 x s8 kernel on AVX2 without VNNI: pairs of products summed
    in int16 (saturating), then in int32, then corrected for the digits' zero point."""

    def __init__(self, graph: bytes, *args, **kwargs):
        onnx = pytest.importorskip("onnx")
        model = onnx.load_from_string(graph)
        table = next(i for i in model.graph.initializer if i.name == "table")
        self.table = onnx.numpy_helper.to_array(table).astype(np.int64)  # (D, n)
        self.saturate = True

    def run(self, _names, feeds):
        digits = feeds["digits"].astype(np.int64)  # (M, D), value + 128
        products = digits[:, :, None] * self.table[None]  # (M, D, n)
        pairs = products[:, 0::2] + products[:, 1::2]
        if self.saturate:
            pairs = np.clip(pairs, -(2**15), 2**15 - 1)
        zero_point = int8_kernel.ZERO_POINT * self.table.sum(axis=0)
        return [(pairs.sum(axis=1) - zero_point).astype(np.int32)]


def test_the_probe_detects_a_kernel_that_saturates(monkeypatch, mlas):
    import onnxruntime

    probe = int8_kernel.signed_gemm_is_exact.__wrapped__  # past the per-process cache
    monkeypatch.setattr(onnxruntime, "InferenceSession", SaturatingSession)
    assert probe() is False

    class ExactSession(SaturatingSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.saturate = False

    monkeypatch.setattr(onnxruntime, "InferenceSession", ExactSession)
    assert probe() is True  # the stand-in's arithmetic is right: only saturation fails it


@pytest.mark.parametrize("digits", [1, 2])
def test_signed_and_unsigned_tables_give_the_same_integers(digits, mlas):
    """Both table encodings against int64 arithmetic, full-range weights (-128 included);
    the signed one only where this CPU's u8 x s8 product is exact, as the kernel decides."""
    gen = torch.Generator().manual_seed(digits)
    values = torch.randint(-128, 128, (400, 64), generator=gen, dtype=torch.int8)
    values[:8] = -128
    q = torch.randint(-127, 128, (3, 64), generator=gen)
    q[:, 0] = 127  # s1 = 1 exactly: the query is its first digit
    q[0] = 127  # with the -128 rows: the pair sums that saturate int16
    exact = (q.long() @ values.long().T).float()
    encodings = [False, True] if int8_kernel.signed_gemm_is_exact() else [False]
    for signed in encodings:
        kernel = int8_kernel.Int8Kernel(
            values.numpy(), np.ones(400, np.float32), 1, digits, signed, backend=mlas
        )
        assert kernel.signed is signed
        scores = kernel.scores(q.float())
        if digits == 1:  # y1 * s1 with s1 = 1: the integers themselves
            assert torch.equal(scores, exact), signed
        else:  # (254 y1 + y2) * s2 rounds to float32 once
            torch.testing.assert_close(scores, exact, rtol=1e-6, atol=0)


def test_the_kernel_takes_the_probe_s_answer(monkeypatch, mlas):
    rows = random_rows(200, 16, 5)
    auto = rows.with_kernel(threads=1, backend=mlas).kernel
    assert auto is not None and auto.signed is int8_kernel.signed_gemm_is_exact()
    monkeypatch.setattr(int8_kernel, "signed_gemm_is_exact", lambda: False)
    unsigned = rows.with_kernel(threads=1, backend=mlas).kernel
    assert unsigned is not None and unsigned.signed is False
    hidden = torch.randn(2, 16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(unsigned.scores(hidden), auto.scores(hidden), rtol=0, atol=1e-4)


def full_range_case(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-range int8 rows (-128 included, one row at the largest |v|), row scales, and
    queries with an all-zero one and one aligned with the largest row."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-128, 128, size=(n, dim)).astype(np.int8)
    values[0] = np.where(np.arange(dim) % 2, 127, -128)
    scales = (rng.random(n) * 0.05).astype(np.float32)
    scales[1] = 0.0
    hidden = (rng.standard_normal((5, dim)) * [[1.0], [30.0], [1e-3], [1.0], [1.0]]).astype(
        np.float32
    )
    hidden[3] = 0.0
    hidden[4] = np.where(np.arange(dim) % 2, 1.0, -1.0)
    return values, scales, hidden


@pytest.mark.parametrize("dim", [16, 64, 518, 519, 600])
@pytest.mark.parametrize("digits", [1, 2])
def test_numba_and_mlas_backends_give_identical_scores(dim, digits):
    """The Numba loop computes MLAS's integers (254 y1 + y2 in one int16 pass) and scales
    them with the same float32 operations in the same order: the scores agree bit for bit,
    on both sides of the width where int32 sums give way to int64 (518 / 519)."""
    installed("numba"), installed("onnxruntime")
    values, scales, hidden = full_range_case(300, dim, dim + digits)
    fast = int8_kernel.Int8Kernel(values, scales, 1, digits, backend="numba")
    gemm = int8_kernel.Int8Kernel(values, scales, 1, digits, backend="onnxruntime")
    assert fast.backend == "numba" and gemm.backend == "onnxruntime"
    np.testing.assert_array_equal(fast.score_array(hidden), gemm.score_array(hidden))


def test_numba_sums_switch_to_int64_where_int32_could_overflow():
    assert not int8_kernel.needs_wide_sums(518) and int8_kernel.needs_wide_sums(519)
    assert 518 * 128 * int8_kernel.MAX_COMBINED < 2**31 <= 519 * 128 * int8_kernel.MAX_COMBINED
    installed("numba")
    dim = 600
    values = np.full((2, dim), -128, np.int8)
    query = np.full((1, dim), -int8_kernel.MAX_COMBINED, np.int16)  # 600 * 128 * 32385 > 2**31
    out = np.empty((1, 2), np.float32)
    ones = np.ones(2, np.float32)
    int8_numba.compiled(True)(values, query, ones, np.ones(1, np.float32), out, 0, 2)
    assert out[0, 0] == np.float32(dim * 128 * int8_kernel.MAX_COMBINED)  # no wrap-around


@pytest.mark.parametrize("threads", [2, 3])
def test_numba_rows_split_across_threads_equal_one_thread(threads):
    installed("numba")
    values, scales, hidden = full_range_case(1001, 32, threads)  # ranges of uneven length
    one = int8_kernel.Int8Kernel(values, scales, 1, backend="numba")
    many = int8_kernel.Int8Kernel(values, scales, threads, backend="numba")
    assert many.threads == threads
    np.testing.assert_array_equal(many.score_array(hidden), one.score_array(hidden))


def test_the_backend_is_checked_and_auto_prefers_numba(monkeypatch):
    values, scales = np.zeros((5, 4), np.int8), np.ones(5, np.float32)
    with pytest.raises(ValueError, match="backend must be one of"):
        int8_kernel.Int8Kernel(values, scales, threads=1, backend="cuda")
    expected = "numba" if int8_numba.available() else "onnxruntime"
    assert int8_kernel.Int8Kernel(values, scales, threads=1).backend == expected
    monkeypatch.setattr(int8_numba, "available", lambda: False)
    with pytest.raises(ImportError, match="numba"):
        int8_kernel.Int8Kernel(values, scales, threads=1, backend="numba")
    if backend_installed("onnxruntime"):
        auto = int8_kernel.Int8Kernel(values, scales, threads=1)
        assert auto.backend == "onnxruntime"  # the fallback where Numba is missing


def test_rows_without_any_backend_keep_the_chunked_product(monkeypatch):
    import segue.compress.int8 as int8_module

    rows = random_rows(50, 8, 1)
    monkeypatch.setattr(int8_module, "backend_installed", lambda backend: False)
    assert rows.with_kernel(threads=1).kernel is None
