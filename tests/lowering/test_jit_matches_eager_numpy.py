"""Every ``fborn.numpy`` function (the modules' ``__all__`` and ``fborn.numpy.linalg``)
compiled by the numba backend (``fborn.jit``) equals its eager result: hypothesis draws shapes
(scalars, zero-size, broadcasting), dtypes (mixed, with weak Python scalars), non-contiguous
numpy views and static parameters from the case table in ``jit_eager_cases.py``; creation
functions without array arguments are checked alone and fused with an operand. Also: 64-bit
types under x64.
"""

from __future__ import annotations

import jit_eager_cases
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

C = jit_eager_cases


def test_table_covers_every_numpy_name() -> None:
    public = C.numpy_public_names()
    assert set(C.NUMPY_CASES) | set(C.NUMPY_EXCLUDED) == public
    assert not set(C.NUMPY_CASES) & set(C.NUMPY_EXCLUDED)


FAMILIES = C.families(C.NUMPY_CASES)
GROUPS = C.groups(C.NUMPY_CASES)
X64_GROUPS = C.groups(C.NUMPY_X64_CASES)


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
    C.check_items([C.jit_item(n, C.NUMPY_CASES[n],
                              data.draw(C.NUMPY_CASES[n].args, label=n)) for n in names])


@pytest.mark.parametrize("names", X64_GROUPS, ids=C.group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_matches_eager_x64(names: list[str], data: st.DataObject, x64: None) -> None:
    cases = C.NUMPY_X64_CASES
    C.check_items([C.jit_item(f"x64 {n}", cases[n], data.draw(cases[n].args, label=n))
                   for n in names])
