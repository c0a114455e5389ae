import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxgru.ops.primitives import MAX_SHIFT, MIN_SHIFT, affine_params, code_range, fixed_point, quantize, requantize

_requantize = jax.jit(requantize)


def _exact(acc: int, m: int, s: int) -> int:
    return (acc * m + (1 << (s - 1))) >> s  # Python ints: unbounded, floor shift


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**31) + 1, 2**31 - 1), st.integers(0, 2**15 - 1), st.integers(MIN_SHIFT, MAX_SHIFT)
        ),
        min_size=1,
        max_size=64,
    )
)
def test_requantize_is_exact_or_saturates(triples):
    acc, m, s = (np.array(v, dtype=np.int64) for v in zip(*triples))
    # padded to 64 (with shift 1) so that the jitted function compiles once, not per list length
    pad = lambda v, fill: jnp.asarray(np.concatenate([v, np.full(64 - len(v), fill)]), jnp.int32)  # noqa: E731
    got = np.asarray(_requantize(pad(acc, 0), pad(m, 0), pad(s, 1)))[: len(acc)]
    for a, mm, ss, g in zip(acc, m, s, got):
        want = _exact(int(a), int(mm), int(ss))
        if abs(want) < 2**29:
            assert int(g) == want, (a, mm, ss)
        else:  # too large for any code: must saturate with the right sign, never wrap
            assert np.sign(int(g)) == np.sign(want) and abs(int(g)) >= 2**29, (a, mm, ss, g, want)


def test_requantize_rounds_half_up():
    acc = jnp.array([3, -3, 5, -5, 1, -1], jnp.int32)  # x/2 with ties
    got = np.asarray(requantize(acc, jnp.int32(1), jnp.int32(1)))
    np.testing.assert_array_equal(got, [2, -1, 3, -2, 1, 0])


def test_fixed_point_relative_error():
    factors = np.geomspace(1e-9, 3e3, 500).astype(np.float32)
    m, s = fixed_point(jnp.asarray(factors))
    m, s = np.asarray(m), np.asarray(s)
    assert (m >= 2**14).all() and (m < 2**15).all()
    approx = m * np.exp2(-s.astype(np.float64))
    assert np.max(np.abs(approx / factors - 1)) < 2**-14


def test_fixed_point_common_shift_and_saturation():
    m, s = fixed_point(jnp.float32(0.25), jnp.int32(16))
    assert (int(m), int(s)) == (2**14, 16)
    m, s = fixed_point(jnp.float32(0.25), jnp.int32(20))  # 2^18 does not fit: saturates
    assert (int(m), int(s)) == (2**15 - 1, 20)


@settings(max_examples=100, deadline=None)
@given(st.floats(-50, 0), st.floats(0, 50), st.integers(2, 8))
def test_affine_params_represent_zero_and_cover_range(lo, hi, bits):
    scale, zero = affine_params(lo, hi, bits)
    qmin, qmax = (int(v) for v in code_range(bits))
    assert qmin <= int(zero) <= qmax
    assert int(quantize(jnp.float32(0.0), scale, zero, bits)) == int(zero)  # 0 is exact
    codes = quantize(jnp.array([lo, hi], jnp.float32), scale, zero, bits)
    recon = float(scale) * (np.asarray(codes) - int(zero))
    assert np.all(np.abs(recon - np.array([lo, hi])) <= float(scale) * 0.5 + 1e-5 * max(1, hi - lo))


def test_code_range():
    qmin, qmax = code_range(jnp.arange(2, 9))
    np.testing.assert_array_equal(qmin, [-2, -4, -8, -16, -32, -64, -128])
    np.testing.assert_array_equal(qmax, [1, 3, 7, 15, 31, 63, 127])
