"""Tests of fborn.numpy's products (dot, matmul, einsum, ...) and fborn.numpy.linalg norms,
compared against numpy; every function is also run traced (make_jaxpr + eval_jaxpr)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.numpy as fnp
from fborn.errors import FbornShapeError
from fborn.numpy import _linalg as L
from fborn.numpy import linalg as LA
from fborn.test_util import eval_traced

SETTINGS = settings(max_examples=25, deadline=None)
FEW = settings(max_examples=15, deadline=None)  # tests that check several functions per example


# --------------------------------------------------------------------------------------------
# Shared helpers and strategies
# --------------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)])
FLOAT_DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


def values(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``shape``: small integers, or floats in [-4, 4] (no NaN/inf)."""
    if dtype.kind == "i":
        elements = st.integers(-5, 5)
    else:
        elements = st.floats(-4, 4, width=32, allow_nan=False, allow_infinity=False)
    return hnp.arrays(dtype, shape, elements=elements)


def check(f: Callable[..., Any], ref: Callable[..., Any], *args: np.ndarray,
          rtol: float = 2e-5) -> None:
    """``f`` eager and traced equals the numpy reference ``ref`` (dtype and shape exact)."""
    expected = np.asarray(ref(*args))
    for out in (f(*args), eval_traced(f, *args)[0]):
        got = np.asarray(out)
        assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
        assert got.shape == expected.shape, (got.shape, expected.shape)
        if expected.dtype.kind in "iub":
            np.testing.assert_array_equal(got, expected)
        else:
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale * 10)


def count_prims(f: Callable[..., Any], *args: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for eqn in fborn.make_jaxpr(f)(*args).jaxpr.eqns:
        counts[eqn.primitive.name] = counts.get(eqn.primitive.name, 0) + 1
    return counts


dims = st.integers(1, 4)


@st.composite
def dot_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(DTYPES)
    a_shape = tuple(draw(st.lists(dims, max_size=3)))
    b_shape = list(draw(st.lists(dims, max_size=3)))
    if a_shape and b_shape:
        b_shape[len(b_shape) - 2 if len(b_shape) >= 2 else 0] = a_shape[-1]
    return draw(values(dtype, a_shape)), draw(values(dtype, tuple(b_shape)))


@st.composite
def matmul_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(DTYPES)
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    m, k, n = draw(dims), draw(dims), draw(dims)
    a_shape = (k,) if draw(st.booleans()) else (*batch.input_shapes[0], m, k)
    b_shape = (k,) if draw(st.booleans()) else (*batch.input_shapes[1], k, n)
    return draw(values(dtype, a_shape)), draw(values(dtype, b_shape))


# --------------------------------------------------------------------------------------------
# dot, vdot, inner, outer, matmul, tensordot
# --------------------------------------------------------------------------------------------

@SETTINGS
@given(dot_case())
def test_dot_matches_numpy(case: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = case
    with fborn.config.override(enable_x64=a.dtype == np.float64):
        check(fnp.dot, np.dot, a, b)


@SETTINGS
@given(matmul_case())
def test_matmul_matches_numpy(case: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = case
    with fborn.config.override(enable_x64=a.dtype == np.float64):
        check(fnp.matmul, np.matmul, a, b)


@FEW
@given(st.data(), DTYPES)
def test_inner_vdot_outer_match_numpy(data: st.DataObject, dtype: np.dtype) -> None:
    a_shape = tuple(data.draw(st.lists(dims, max_size=3)))
    b_shape = (*data.draw(st.lists(dims, max_size=2)), *a_shape[-1:])
    a, b = data.draw(values(dtype, a_shape)), data.draw(values(dtype, b_shape))
    c = data.draw(values(dtype, (a.size,)))
    with fborn.config.override(enable_x64=dtype == np.float64):
        check(fnp.inner, np.inner, a, b)
        check(fnp.outer, np.outer, a, b)
        check(fnp.vdot, np.vdot, a, c)


@SETTINGS
@given(st.data(), DTYPES, st.integers(0, 3))
def test_tensordot_int_axes(data: st.DataObject, dtype: np.dtype, n: int) -> None:
    shared = tuple(data.draw(st.lists(dims, min_size=n, max_size=n)))
    a_shape = (*data.draw(st.lists(dims, max_size=2)), *shared)
    b_shape = (*shared, *data.draw(st.lists(dims, max_size=2)))
    a, b = data.draw(values(dtype, a_shape)), data.draw(values(dtype, b_shape))
    with fborn.config.override(enable_x64=dtype == np.float64):
        check(lambda x, y: fnp.tensordot(x, y, n), lambda x, y: np.tensordot(x, y, n), a, b)


@FEW
@given(st.data(), DTYPES)
def test_tensordot_axis_pairs(data: st.DataObject, dtype: np.dtype) -> None:
    a_shape = tuple(data.draw(st.lists(dims, min_size=1, max_size=4)))
    a_axes = data.draw(st.permutations(range(len(a_shape))))[: data.draw(
        st.integers(1, len(a_shape)))]
    b_free = data.draw(st.lists(dims, max_size=2))
    b_layout = data.draw(st.permutations([("c", i) for i in range(len(a_axes))]
                                         + [("f", d) for d in b_free]))
    b_shape = tuple(a_shape[a_axes[v]] if kind == "c" else v for kind, v in b_layout)
    b_axes = [b_layout.index(("c", i)) - len(b_shape) for i in range(len(a_axes))]
    a, b = data.draw(values(dtype, a_shape)), data.draw(values(dtype, b_shape))
    axes = (list(a_axes), b_axes)
    with fborn.config.override(enable_x64=dtype == np.float64):
        check(lambda x, y: fnp.tensordot(x, y, axes), lambda x, y: np.tensordot(x, y, axes),
              a, b)


@FEW
@given(st.data(), DTYPES)
def test_kron_vecdot_matrix_transpose(data: st.DataObject, dtype: np.dtype) -> None:
    a = data.draw(values(dtype, tuple(data.draw(st.lists(dims, max_size=3)))))
    b = data.draw(values(dtype, tuple(data.draw(st.lists(dims, max_size=3)))))
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                         max_side=3))
    k = data.draw(dims)
    x1 = data.draw(values(dtype, (*shapes.input_shapes[0], k)))
    x2 = data.draw(values(dtype, (*shapes.input_shapes[1], k)))
    m = data.draw(values(dtype, tuple(data.draw(st.lists(dims, min_size=2, max_size=4)))))
    with fborn.config.override(enable_x64=dtype == np.float64):
        check(fnp.kron, np.kron, a, b)
        check(fnp.vecdot, np.vecdot, x1, x2)
        check(fnp.matrix_transpose, np.matrix_transpose, m)
        check(LA.matrix_transpose, np.linalg.matrix_transpose, m)


@pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")
@FEW
@given(st.data(), FLOAT_DTYPES, st.sampled_from([(3, 3), (2, 3), (3, 2)]))
def test_cross_matches_numpy(data: st.DataObject, dtype: np.dtype, sizes: tuple[int, int]
                             ) -> None:
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    a = data.draw(values(dtype, (*shapes.input_shapes[0], sizes[0])))
    b = data.draw(values(dtype, (*shapes.input_shapes[1], sizes[1])))
    with fborn.config.override(enable_x64=dtype == np.float64):
        check(fnp.cross, np.cross, a, b)
        moved = (np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0))
        check(lambda x, y: fnp.cross(x, y, axisa=0, axisb=0, axisc=0),
              lambda x, y: np.cross(x, y, axisa=0, axisb=0, axisc=0), *moved)


def test_cross_of_2_vectors_is_scalar_z() -> None:
    a, b = np.array([[1.0, 2.0], [3.0, 1.0]], np.float32), np.array([4.0, 5.0], np.float32)
    out = fnp.cross(a, b)
    assert out.shape == (2,)
    np.testing.assert_array_equal(np.asarray(out), np.array([-3.0, 11.0], np.float32))


def test_linalg_array_api_products() -> None:
    x, y = np.arange(3.0, dtype=np.float32), np.arange(1.0, 5.0, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(LA.outer(x, y)), np.outer(x, y))
    np.testing.assert_array_equal(np.asarray(LA.cross(x, x[::-1])), np.cross(x, x[::-1]))
    m = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(LA.matmul(x, m)), x @ m)
    np.testing.assert_array_equal(np.asarray(LA.vecdot(m, m, axis=0)), np.vecdot(m, m, axis=0))
    np.testing.assert_array_equal(np.asarray(LA.tensordot(m, m, axes=([0], [0]))),
                                  np.tensordot(m, m, ([0], [0])))
    with pytest.raises(ValueError, match="1-D"):
        LA.outer(m, x)
    with pytest.raises(ValueError, match="size 3"):
        LA.cross(y, y)


# --------------------------------------------------------------------------------------------
# dtypes and jaxpr structure
# --------------------------------------------------------------------------------------------

def test_result_dtypes_follow_jax_promotion() -> None:
    i32, f32 = np.ones((2, 3), np.int32), np.ones((3,), np.float32)
    assert fnp.dot(i32, f32).dtype == np.float32  # numpy would give float64
    assert fnp.matmul(i32, np.ones(3, np.int32)).dtype == np.int32
    out = fnp.dot(2.0, 3.0)
    assert out.dtype == np.float32 and out.weak_type and float(out) == 6.0
    f16 = fnp.dot(np.ones(3, np.float16), 2.0)
    assert f16.dtype == np.float16 and not f16.weak_type
    b = fnp.dot(np.array([True, False]), np.array([True, True]))
    assert b.dtype == np.bool_ and bool(b)
    i8 = np.full((4,), 100, np.int8)
    wide = fnp.einsum("i,i", i8, i8, preferred_element_type=np.int32)
    assert wide.dtype == np.int32 and int(wide) == 40000
    assert fnp.matmul(i8, i8, preferred_element_type=np.int32).dtype == np.int32
    assert fnp.matmul(i8, i8, precision="highest").dtype == np.int8
    with fborn.config.override(enable_x64=True):
        assert fnp.dot(np.ones(2), np.ones(2)).dtype == np.float64
        assert fnp.einsum("i->", np.ones(2)).dtype == np.float64
    assert fnp.dot(np.ones(2), np.ones(2)).dtype == np.float32


def test_matmul_3d_is_one_dot_general() -> None:
    a, b = np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32)
    assert count_prims(fnp.matmul, a, b) == {"dot_general": 1}
    eqn = fborn.make_jaxpr(fnp.matmul)(a, b).jaxpr.eqns[0]
    assert eqn.params["dimension_numbers"] == (((2,), (1,)), ((0,), (0,)))


def test_einsum_batched_matmul_is_one_dot_general() -> None:
    a, b = np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32)
    assert count_prims(lambda x, y: fnp.einsum("bij,bjk->bik", x, y), a, b) == {
        "dot_general": 1}


def test_matmul_broadcast_batch_does_not_materialize() -> None:
    a, b = np.ones((1, 3, 4), np.float32), np.ones((2, 1, 4, 5), np.float32)
    counts = count_prims(fnp.matmul, a, b)
    assert counts.get("dot_general") == 1 and "broadcast_in_dim" not in counts
    assert fnp.matmul(a, b).shape == (2, 1, 3, 5)


def test_einsum_one_dot_general_per_pair() -> None:
    args = [np.ones(s, np.float32) for s in [(2, 3), (3, 4), (4, 5)]]
    for optimize in (False, "greedy", True, [(0, 1), (0, 1)]):
        def f(*xs: np.ndarray, optimize: Any = optimize) -> Any:
            return fnp.einsum("ij,jk,kl->il", *xs, optimize=optimize)

        assert count_prims(f, *args) == {"dot_general": 2}, optimize


def test_einsum_greedy_order_avoids_big_intermediate() -> None:
    # left to right builds the 20x20 outer product first; greedy contracts b with c first.
    a, b, c = (np.ones(s, np.float32) for s in [(20,), (20,), (20,)])
    eqns = fborn.make_jaxpr(lambda *xs: fnp.einsum("i,j,j->i", *xs))(a, b, c).jaxpr.eqns
    shapes = [e.outvars[0].aval.shape for e in eqns if e.primitive.name == "dot_general"]
    assert shapes == [(), (20,)]
    eqns = fborn.make_jaxpr(lambda *xs: fnp.einsum("i,j,j->i", *xs, optimize=False))(
        a, b, c).jaxpr.eqns
    shapes = [e.outvars[0].aval.shape for e in eqns if e.primitive.name == "dot_general"]
    assert shapes == [(20, 20), (20,)]


# --------------------------------------------------------------------------------------------
# einsum
# --------------------------------------------------------------------------------------------

@st.composite
def einsum_case(draw: st.DrawFn) -> tuple[str, list[np.ndarray], Any]:
    """A random einsum over labels 'a'..'e' with 1-3 operands (each label once per operand),
    an explicit or implicit output, and an optimize setting."""
    dtype = draw(DTYPES)
    sizes = dict(zip("abcde", draw(st.lists(st.integers(1, 3), min_size=5, max_size=5)),
                     strict=True))
    n = draw(st.integers(1, 3))
    terms = [draw(st.permutations("abcde"))[: draw(st.integers(0, 3))] for _ in range(n)]
    used = sorted(set("".join("".join(t) for t in terms)))
    spec = ",".join("".join(t) for t in terms)
    if draw(st.booleans()):
        out = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        spec += "->" + "".join(out)
    ops = [draw(values(dtype, tuple(sizes[c] for c in t))) for t in terms]
    optimize = draw(st.sampled_from([False, True, "auto", "greedy", "optimal"]))
    return spec, ops, optimize


@SETTINGS
@given(einsum_case())
def test_einsum_matches_numpy(case: tuple[str, list[np.ndarray], Any]) -> None:
    spec, ops, optimize = case
    with fborn.config.override(enable_x64=ops[0].dtype == np.float64):
        check(lambda *xs: fnp.einsum(spec, *xs, optimize=optimize),
              lambda *xs: np.einsum(spec, *xs), *ops)


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->ji", [(2, 2, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("...ij,...jk", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(5, 1, 2, 3), (4, 3, 2)]),
    ("i...->...", [(2, 3, 4)]),
    ("ij,jk", [(2, 1), (3, 4)]),
    ("i,i", [(3,), (1,)]),
    ("a,b,c->abc", [(2,), (3,), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("abc,cd,bd->a", [(2, 3, 4), (4, 5), (3, 5)]),
    ("ij->", [(2, 3)]),
    ("Ab,bA", [(2, 3), (3, 2)]),
    (",i->i", [(), (3,)]),
    ("i ,j -> ij", [(2,), (3,)]),
    ("ab,ab->ab", [(2, 3), (2, 3)]),
    ("ij,ij,ij->", [(2, 3), (2, 3), (2, 3)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUM_CASES)
@pytest.mark.parametrize("optimize", [False, "auto"])
def test_einsum_cases(spec: str, shapes: list[tuple[int, ...]], optimize: Any) -> None:
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    check(lambda *xs: fnp.einsum(spec, *xs, optimize=optimize),
          lambda *xs: np.einsum(spec, *xs), *ops)


def test_einsum_ellipsis_summed_when_output_omits_it() -> None:
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(fnp.einsum("...i->i", x)), x.sum(0))


def test_einsum_interleaved_and_bool() -> None:
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    b = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(fnp.einsum(a, [0, 1], b, [1, 2], [0, 2])), a @ b)
    np.testing.assert_array_equal(np.asarray(fnp.einsum(a, [Ellipsis, 1])), np.einsum(a, [..., 1]))
    m = np.array([[True, False], [False, False]])
    check(lambda x: fnp.einsum("ij->i", x), lambda x: np.einsum("ij->i", x), m)
    check(lambda x, y: fnp.einsum("ij,jk->ik", x, y), lambda x, y: np.einsum("ij,jk->ik", x, y),
          m, m)


def test_einsum_explicit_path() -> None:
    args = [np.full(s, 2.0, np.float32) for s in [(2, 3), (3, 4), (4, 5)]]
    expected = np.einsum("ij,jk,kl->il", *args)
    for path in ([(1, 2), (0, 1)], ["einsum_path", (0, 2), (0, 1)]):
        out = fnp.einsum("ij,jk,kl->il", *args, optimize=path)
        np.testing.assert_array_equal(np.asarray(out), expected)


@pytest.mark.parametrize("spec,shapes,match", [
    ("ij,jk->ik", [(2, 3)], "name 2 operand"),
    ("ij,jk->ik", [(2, 3), (4, 5)], "size of subscript 'j'"),
    ("...i,...i", [(2, 3), (4, 3)], "ellipsis axis"),
    ("i1", [(2, 3)], "invalid subscript"),
    ("ij->i->j", [(2, 3)], "only one '->'"),
    ("ij->ii", [(2, 3)], "repeats 'i'"),
    ("ij->k", [(2, 3)], "'k' does not appear"),
    ("ijk", [(2, 3)], "rank of operand 0"),
    ("i", [(2, 3)], "rank of operand 0"),
    ("......i", [(2, 3)], "more than one ellipsis"),
    ("i.j", [(2, 3)], "invalid subscript"),
    ("ii->i", [(2, 3)], "repeated subscript 'i'"),
])
def test_einsum_bad_subscripts(spec: str, shapes: list[tuple[int, ...]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fnp.einsum(spec, *[np.ones(s, np.float32) for s in shapes])


def test_einsum_bad_arguments() -> None:
    x = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="optimize"):
        fnp.einsum("ij,jk", x, x, optimize="fastest-please")
    with pytest.raises(ValueError, match="path"):
        fnp.einsum("ij,jk,kl", x, x, x, optimize=[(0, 1)])
    with pytest.raises(ValueError, match="invalid"):
        fnp.einsum("ij,jk", x, x, optimize=[(0, 5)])
    with pytest.raises(ValueError, match="at least one operand"):
        fnp.einsum("")
    with pytest.raises(NotImplementedError):
        fnp.einsum("ij", x, out=x)


# --------------------------------------------------------------------------------------------
# Error cases of the products
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("f,shapes,match", [
    (fnp.dot, [(2, 3), (4, 5)], r"dot: .*\(2, 3\).*\(4, 5\)"),
    (fnp.dot, [(3,), (4,)], r"sizes \(3,\).*sizes \(4,\)"),
    (fnp.matmul, [(2, 3), (4, 5)], r"matmul: .*\(2, 3\).*\(4, 5\)"),
    (fnp.matmul, [(2, 2, 3), (3, 3, 4)], r"batch dimensions .*\(2, 2, 3\).*\(3, 3, 4\)"),
    (fnp.matmul, [(3,), (4,)], r"sizes \(3,\).*sizes \(4,\)"),
    (fnp.inner, [(3,), (4,)], r"inner: "),
    (fnp.vdot, [(2, 3), (5,)], r"vdot: .*\(2, 3\).*\(5,\)"),
    (lambda a, b: fnp.tensordot(a, b, 1), [(2, 3), (4, 5)], r"tensordot: .*sizes"),
    (lambda a, b: fnp.tensordot(a, b, 3), [(2, 3), (3, 5)], r"exceeds the input ranks"),
    (lambda a, b: fnp.tensordot(a, b, ([0, 1], [0])), [(2, 3), (2, 3)], r"equal length"),
    (lambda a, b: fnp.tensordot(a, b, ([0], [2])), [(2, 3), (2, 3)], r"out of bounds"),
    (fnp.vecdot, [(2, 3), (4,)], r"\(2, 3\).*\(4,\)"),
])
def test_shape_mismatch_raises(f: Callable[..., Any], shapes: list[tuple[int, ...]],
                               match: str) -> None:
    args = [np.ones(s, np.float32) for s in shapes]
    with pytest.raises(FbornShapeError, match=match):
        f(*args)


def test_other_product_errors() -> None:
    with pytest.raises(ValueError, match="ndim at least 1"):
        fnp.matmul(2.0, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="non-negative"):
        fnp.tensordot(np.ones(2), np.ones(2), -1)
    with pytest.raises(TypeError, match="axes must be"):
        fnp.tensordot(np.ones(2), np.ones(2), "i")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fnp.matrix_transpose(np.ones(3))
    with pytest.raises(ValueError, match="2 or 3"):
        fnp.cross(np.ones(4), np.ones(3))
    with pytest.raises(NotImplementedError):
        fnp.outer(np.ones(2), np.ones(2), out=np.ones((2, 2)))


# --------------------------------------------------------------------------------------------
# linalg.norm, vector_norm, matrix_norm
# --------------------------------------------------------------------------------------------

VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1, -2]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf]


@st.composite
def norm_array(draw: st.DrawFn, min_dims: int = 1) -> np.ndarray:
    dtype = draw(DTYPES)
    shape = tuple(draw(st.lists(dims, min_size=min_dims, max_size=3)))
    return draw(values(dtype, shape))


def norm_check(f: Callable[..., Any], ref: Callable[..., Any], x: np.ndarray) -> None:
    """numpy computes float32 norms of int input in float64; fborn uses the default float."""
    with fborn.config.override(enable_x64=x.dtype == np.float64), np.errstate(all="ignore"):
        if x.dtype == np.int32:
            check(f, lambda v: np.asarray(ref(v)).astype(np.float32), x, rtol=1e-5)
        else:
            check(f, ref, x, rtol=1e-5)


@SETTINGS
@given(norm_array(), st.sampled_from(VECTOR_ORDS), st.booleans(), st.data())
def test_vector_norm_matches_numpy(x: np.ndarray, ord: Any, keepdims: bool,  # noqa: A002
                                   data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    norm_check(lambda v: LA.norm(v, ord, axis, keepdims),
               lambda v: np.linalg.norm(v, ord, axis, keepdims), x)
    if ord is not None:
        norm_check(lambda v: LA.vector_norm(v, axis=axis, keepdims=keepdims, ord=ord),
                   lambda v: np.linalg.vector_norm(v, axis=axis, keepdims=keepdims, ord=ord), x)


@SETTINGS
@given(norm_array(min_dims=2), st.sampled_from(MATRIX_ORDS), st.booleans(), st.data())
def test_matrix_norm_matches_numpy(x: np.ndarray, ord: Any, keepdims: bool,  # noqa: A002
                                   data: st.DataObject) -> None:
    axes = tuple(data.draw(st.permutations(range(x.ndim)))[:2])
    norm_check(lambda v: LA.norm(v, ord, axes, keepdims),
               lambda v: np.linalg.norm(v, ord, axes, keepdims), x)
    mat_ord = "fro" if ord is None else ord
    norm_check(lambda v: LA.matrix_norm(v, keepdims=keepdims, ord=mat_ord),
               lambda v: np.linalg.matrix_norm(v, keepdims=keepdims, ord=mat_ord), x)


@SETTINGS
@given(norm_array(min_dims=0), st.booleans())
def test_norm_of_all_elements(x: np.ndarray, keepdims: bool) -> None:
    norm_check(lambda v: LA.norm(v, keepdims=keepdims),
               lambda v: np.linalg.norm(v, keepdims=keepdims), x)
    norm_check(lambda v: LA.vector_norm(v, axis=None, keepdims=keepdims, ord=1),
               lambda v: np.linalg.vector_norm(v, keepdims=keepdims, ord=1), x)


def test_norm_axis_none_with_ord() -> None:
    v = np.array([3.0, -4.0], np.float32)
    m = np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)
    assert float(LA.norm(v, 1)) == 7.0 and float(LA.norm(v, np.inf)) == 4.0
    assert float(LA.norm(m, 1)) == 6.0 and float(LA.norm(m, np.inf)) == 7.0
    assert float(LA.norm(m, -1)) == 4.0 and float(LA.norm(m, -np.inf)) == 3.0
    assert LA.norm(np.arange(4)).dtype == np.float32
    assert float(LA.vector_norm(np.array([0.0, 2.0, 0.0], np.float32), ord=0)) == 1.0


@pytest.mark.parametrize("call,exc,match", [
    (lambda x: LA.norm(x, "nuc"), NotImplementedError, "SVD"),
    (lambda x: LA.norm(x, 2), NotImplementedError, "SVD"),
    (lambda x: LA.norm(x, -2, axis=(0, 1)), NotImplementedError, "SVD"),
    (lambda x: LA.matrix_norm(x, ord=2), NotImplementedError, "SVD"),
    (lambda x: LA.norm(x, 3), ValueError, "Invalid order 3 for matrix norm"),
    (lambda x: LA.norm(x, "fro", axis=0), ValueError, "Invalid order 'fro' for vector norm"),
    (lambda x: LA.norm(x[None], 1), ValueError, "Improper number of dimensions"),
    (lambda x: LA.norm(x[None], axis=(0, 1, 2)), ValueError, "Improper number of axes"),
    (lambda x: LA.norm(x, axis=(0, 0)), ValueError, "duplicate"),
    (lambda x: LA.norm(x, axis=2), FbornShapeError, "out of bounds"),
    (lambda x: LA.matrix_norm(x[0]), ValueError, "at least 2 dimensions"),
])
def test_norm_errors(call: Callable[[np.ndarray], Any], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        call(np.ones((2, 3), np.float32))


def test_linalg_module_exports() -> None:
    assert set(LA.__all__) >= {"norm", "vector_norm", "matrix_norm"}
    assert all(callable(getattr(LA, n)) for n in LA.__all__)
    assert set(L.__all__) <= set(dir(fnp))
    assert fnp.linalg.norm is LA.norm
