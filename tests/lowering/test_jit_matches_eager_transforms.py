"""``jit(vmap(f))`` equals eager ``vmap(f)`` and ``jit(grad(f))`` equals eager ``grad(f)`` for
every case of the ``fborn.lax`` and ``fborn.numpy`` tables in ``jit_eager_cases.py``: the
batch axis first, last or absent per argument (batch members are the values reversed, so
index arguments stay valid); gradients of ``sum(out * w)`` with respect to every float array
argument. The collectives, which the jit tables leave out, are checked under vmap with a named
axis.
"""

from __future__ import annotations

from typing import Any

import jit_eager_cases
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.lax as lax

C = jit_eager_cases


CASES = {**{f"lax.{k}": v for k, v in C.LAX_CASES.items()},
         **{f"numpy.{k}": v for k, v in C.NUMPY_CASES.items()}}
FAMILIES = C.families(CASES)
CHECKED = {k: v for k, v in CASES.items() if k not in C.TRANSFORMS_SAME_AS}
VMAP_GROUPS = C.groups({k: v for k, v in CHECKED.items() if v.vmap})
GRAD_GROUPS = C.groups({k: v for k, v in CHECKED.items() if v.grad is not False})


def test_wrappers_are_checked_through_checked_functions() -> None:
    for name, (base, reason) in C.TRANSFORMS_SAME_AS.items():
        assert name in CASES and base in CHECKED and reason, name


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_elementwise_family_vmap(family: str, data: st.DataObject) -> None:
    cases = FAMILIES[family]
    c, in_axes = data.draw(C.batched(next(iter(cases.values())).args), label="batched call")
    C.check_fused(f"vmap {family}", C.family_members(cases, "vmap", c, in_axes), c.args)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_elementwise_family_grad(family: str, data: st.DataObject) -> None:
    cases = FAMILIES[family]
    c = data.draw(next(iter(cases.values())).args, label="call")
    members = C.family_members(cases, "grad", c)
    if members:
        C.check_fused(f"grad {family}", members, c.args)


@pytest.mark.parametrize("names", VMAP_GROUPS, ids=C.group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_of_vmap_matches_eager(names: list[str], data: st.DataObject) -> None:
    items = []
    for n in names:
        c, in_axes = data.draw(C.batched(CASES[n].args), label=n)
        items.append(C.vmap_item(n, CASES[n], c, in_axes))
    C.check_items(items)


@pytest.mark.parametrize("names", GRAD_GROUPS, ids=C.group_id)
@settings(max_examples=C.examples(1))
@given(data=st.data())
def test_jit_of_grad_matches_eager(names: list[str], data: st.DataObject) -> None:
    items = [C.grad_item(n, CASES[n], data.draw(CASES[n].args, label=n)) for n in names]
    if any(items):
        C.check_items([it for it in items if it is not None])


COLLECTIVES = {
    "psum": lambda x: lax.psum(x, "i"),
    "pmean": lambda x: lax.pmean(x, "i"),
    "pmax": lambda x: lax.pmax(x, "i"),
    "pmin": lambda x: lax.pmin(x, "i"),
    "all_gather": lambda x: lax.all_gather(x, "i"),
    "axis_index": lambda x: x * lax.axis_index("i"),
    "ppermute": lambda x: lax.ppermute(x, "i", perm=[(0, 1), (1, 2), (2, 0)]),
    "psum_scatter": lambda x: lax.psum_scatter(x, "i", tiled=True),
}


def test_collectives_table_covers_the_excluded_names() -> None:
    assert {k for k, v in C.LAX_EXCLUDED.items() if v.startswith("collective")} == \
        set(COLLECTIVES)


@pytest.mark.parametrize("name", sorted(COLLECTIVES))
@settings(max_examples=C.examples(1))
@given(x=C.arrays((3, 3), C.F32))
def test_collectives_under_vmap(name: str, x: Any) -> None:
    f = fborn.vmap(COLLECTIVES[name], axis_name="i")
    C.check_items([C.Item(f"vmap {name}", f, (x,), C.SUMS)])
