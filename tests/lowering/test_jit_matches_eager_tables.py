"""Every ``fborn.lax`` function and every ``fborn.numpy`` function (the modules' ``__all__``
and ``fborn.numpy.linalg``) compiled by the numba backend (``fborn.jit``) equals its eager
result: hypothesis draws shapes (scalars, zero-size, broadcasting where the function
broadcasts), dtypes (mixed, with weak Python scalars), non-contiguous numpy views and static
parameters from the case tables in ``jit_eager_cases.py``; creation functions without array
arguments are checked alone and fused with an operand. Also: 64-bit types under x64.
"""

from __future__ import annotations

import jit_eager_cases
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn.lax as lax

C = jit_eager_cases

# library -> (its cases, its x64 cases)
TABLES = {"lax": (C.LAX_CASES, C.LAX_X64_CASES), "numpy": (C.NUMPY_CASES, C.NUMPY_X64_CASES)}


def test_tables_cover_every_public_name() -> None:
    for cases, excluded, public in ((C.LAX_CASES, C.LAX_EXCLUDED, set(lax.__all__)),
                                    (C.NUMPY_CASES, C.NUMPY_EXCLUDED, C.numpy_public_names())):
        assert set(cases) | set(excluded) == public
        assert not set(cases) & set(excluded)


FAMILIES = [(lib, name, members) for lib, (cases, _) in TABLES.items()
            for name, members in sorted(C.families(cases).items())]
GROUPS = [(lib, names) for lib, (cases, _) in TABLES.items() for names in C.groups(cases)]
X64_GROUPS = [(lib, names) for lib, (_, cases) in TABLES.items() for names in C.groups(cases)]


def _group_id(entry: tuple[str, list[str]]) -> str:
    return f"{entry[0]}.{C.group_id(entry[1])}"


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f"{f[0]}.{f[1]}")
@settings(max_examples=C.examples(2))
@given(data=st.data())
def test_elementwise_family_jit_matches_eager(family: tuple, data: st.DataObject) -> None:
    """Every function of an elementwise family on the same drawn arguments, one program."""
    _, name, cases = family
    c = data.draw(next(iter(cases.values())).args, label="call")
    C.check_fused(name, C.family_members(cases, "jit", c), c.args)


@pytest.mark.parametrize("group", GROUPS, ids=_group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_matches_eager(group: tuple[str, list[str]], data: st.DataObject) -> None:
    """A few functions, each on its own drawn arguments, compiled as one program."""
    cases = TABLES[group[0]][0]
    C.check_items([C.jit_item(n, cases[n], data.draw(cases[n].args, label=n))
                   for n in group[1]])


@pytest.mark.parametrize("group", X64_GROUPS, ids=_group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_matches_eager_x64(group: tuple[str, list[str]], data: st.DataObject,
                               x64: None) -> None:
    cases = TABLES[group[0]][1]
    C.check_items([C.jit_item(f"x64 {n}", cases[n], data.draw(cases[n].args, label=n))
                   for n in group[1]])
