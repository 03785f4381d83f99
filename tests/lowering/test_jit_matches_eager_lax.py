"""Every ``fborn.lax`` function compiled by the numba backend (``fborn.jit``) equals its eager
result: hypothesis draws shapes (scalars, zero-size, broadcasting where the function
broadcasts), dtypes, non-contiguous numpy views and static parameters from the case table in
``jit_eager_cases.py``. Also: 64-bit types under x64, and the known differences between the
eager reference and JAX's semantics (strict xfails: the compiled code follows JAX).
"""

from __future__ import annotations

from typing import Any

import jit_eager_cases
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.lax as lax

C = jit_eager_cases


def test_table_covers_every_lax_name() -> None:
    public = set(lax.__all__)
    assert set(C.LAX_CASES) | set(C.LAX_EXCLUDED) == public
    assert not set(C.LAX_CASES) & set(C.LAX_EXCLUDED)


FAMILIES = C.families(C.LAX_CASES)
GROUPS = C.groups(C.LAX_CASES)
X64_GROUPS = C.groups(C.LAX_X64_CASES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=C.examples(2))
@given(data=st.data())
def test_elementwise_family_jit_matches_eager(family: str, data: st.DataObject) -> None:
    """Every function of an elementwise family on the same drawn arguments, one program."""
    cases = FAMILIES[family]
    c = data.draw(next(iter(cases.values())).args, label="call")
    C.check_fused(family, C.family_members(cases, "jit", c), c.args)


@pytest.mark.parametrize("names", GROUPS, ids=C.group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_matches_eager(names: list[str], data: st.DataObject) -> None:
    """A few functions, each on its own drawn arguments, compiled as one program."""
    C.check_items([C.jit_item(n, C.LAX_CASES[n], data.draw(C.LAX_CASES[n].args, label=n))
                   for n in names])


@pytest.mark.parametrize("names", X64_GROUPS, ids=C.group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_matches_eager_x64(names: list[str], data: st.DataObject, x64: None) -> None:
    cases = C.LAX_X64_CASES
    C.check_items([C.jit_item(f"x64 {n}", cases[n], data.draw(cases[n].args, label=n))
                   for n in names])


def test_float32_exp_family_at_the_ends_of_its_range() -> None:
    """The vectorized float32 exp near overflow (k = 128 once overflowed with reassociation),
    near underflow, and through tanh and logistic."""
    x = np.concatenate([np.linspace(88.3, 88.73, 301), np.linspace(-87.4, -87.3, 51),
                        np.linspace(-44.4, 44.4, 101)]).astype(np.float32)
    C.check_items([C.Item("exp/tanh/logistic ends", lambda v: (lax.exp(v), lax.tanh(v),
                                                               lax.logistic(v)), (x,), C.MATH)])


# --- where the eager reference departs from JAX: the compiled code follows JAX -------------------

def compiled_and_eager(f: Any, *args: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(fborn.jit(f)(*args)), np.asarray(f(*args))


@pytest.mark.xfail(strict=True, reason="eager convert_element_type clips float32 to "
                   "float32(2**31 - 1) = 2**31, which overflows to INT_MIN; JAX (and the "
                   "compiled code) saturate to INT_MAX (fborn/primitives/elementwise.py)")
def test_eager_float_to_int32_overflows() -> None:
    x = np.array([np.inf, 3e9, np.nan, -np.inf], np.float32)
    got, want = compiled_and_eager(lambda v: lax.convert_element_type(v, np.int32), x)
    np.testing.assert_array_equal(got, [2**31 - 1, 2**31 - 1, 0, -(2**31)])
    np.testing.assert_array_equal(want, got)


@pytest.mark.xfail(strict=True, reason="eager shift_right_arithmetic shifts unsigned operands "
                   "logically and treats negative amounts as 0; JAX (and the compiled code) "
                   "shift in the top bit and treat amounts outside [0, bits) as bits - 1 "
                   "(fborn/primitives/elementwise.py)")
def test_eager_shift_right_arithmetic_differs() -> None:
    got, want = compiled_and_eager(lax.shift_right_arithmetic, np.uint8([138, 138, 5]),
                                   np.uint8([9, 1, 9]))
    np.testing.assert_array_equal(got, [255, 197, 0])
    got_signed, want_signed = compiled_and_eager(lax.shift_right_arithmetic,
                                                 np.int8([-128, 5]), np.int8([-1, -1]))
    np.testing.assert_array_equal(got_signed, [-1, 0])
    np.testing.assert_array_equal(want, got)
    np.testing.assert_array_equal(want_signed, got_signed)


@pytest.mark.xfail(strict=True, reason="eager round (half away from zero) computes "
                   "floor(|x| + 0.5) in float32, so 0.49999997 rounds to 1 and odd integers "
                   "above 2**23 move up by one; JAX (and the compiled code) are exact "
                   "(fborn/primitives/elementwise.py)")
def test_eager_round_half_away_is_inexact() -> None:
    x = np.array([0.49999997, -0.49999997, 8388609.0, 2.5], np.float32)
    got, want = compiled_and_eager(lambda v: lax.round(v, 0), x)
    np.testing.assert_array_equal(got, [0.0, -0.0, 8388609.0, 3.0])
    np.testing.assert_array_equal(want, got)


@pytest.mark.xfail(strict=True, raises=(ValueError, OverflowError),
                   reason="eager lgamma raises on NaN and -inf (math.floor in "
                   "fborn/primitives/special_math.py); the compiled code gives NaN and inf")
def test_eager_lgamma_of_nan_and_inf() -> None:
    x = np.array([np.nan, -np.inf, np.inf, -2.0], np.float32)
    got, want = compiled_and_eager(lax.lgamma, x)
    np.testing.assert_array_equal(want, got)


@pytest.mark.xfail(strict=True, raises=TypeError,
                   reason="eager pad of a 0-d array (empty padding config) passes an empty "
                   "pad_width to numpy, which rejects it (fborn/primitives/shape.py)")
def test_eager_pad_of_a_scalar() -> None:
    got, want = compiled_and_eager(lambda v: lax.pad(v, 0.0, ()), np.float32(3.0))
    np.testing.assert_array_equal(want, got)
