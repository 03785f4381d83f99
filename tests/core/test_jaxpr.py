"""The jaxpr IR: printing of traced functions, evaluation, typechecking, eval_shape,
ShapeDtypeStruct inputs, static arguments and pytree inputs/outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
from fborn import lax
from fborn.core.aval import ShapedArray
from fborn.core.jaxpr import Jaxpr, JaxprEqn, Var
from fborn.errors import JaxprTypeError

F32 = np.dtype(np.float32)


def f32(*shape: int) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


# --- printing ----------------------------------------------------------------------------------

def test_print_two_ops() -> None:
    jaxpr = fborn.make_jaxpr(lambda x, y: lax.add(lax.sin(x), y))(f32(3), f32(3))
    assert str(jaxpr) == (
        "{ lambda ; a:f32[3] b:f32[3]. let\n"
        "    c:f32[3] = sin a\n"
        "    d:f32[3] = add c b\n"
        "  in (d,) }"
    )


def test_print_closure_constant_is_constvar() -> None:
    c = fborn.numpy.asarray(f32(3))
    closed = fborn.make_jaxpr(lambda x: lax.mul(lax.add(x, c), 2.0))(f32(3))
    assert str(closed) == (
        "{ lambda a:f32[3]; b:f32[3]. let\n"
        "    c:f32[3] = add b a\n"
        "    d:f32[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f32[]\n"
        "    e:f32[3] = mul c d\n"
        "  in (e,) }"
    )
    assert len(closed.consts) == 1 and closed.consts[0] is c


def test_print_scalar_literal_and_params() -> None:
    jaxpr = fborn.make_jaxpr(lambda x: lax.convert_element_type(lax.add(x, 1.5), np.int32))(
        np.float32(2.0))
    assert str(jaxpr) == (
        "{ lambda ; a:f32[]. let\n"
        "    b:f32[] = add a 1.5:f32[]\n"
        "    c:i32[] = convert_element_type[new_dtype=int32 weak_type=False] b\n"
        "  in (c,) }"
    )


def test_print_multiple_outputs_and_passthrough() -> None:
    jaxpr = fborn.make_jaxpr(lambda x: (x, lax.reduce_sum(lax.exp(x), (0,))))(f32(2, 3))
    assert str(jaxpr) == (
        "{ lambda ; a:f32[2,3]. let\n"
        "    b:f32[2,3] = exp a\n"
        "    c:f32[3] = reduce_sum[axes=(0,)] b\n"
        "  in (a, c) }"
    )


def test_print_numpy_constant_captured() -> None:
    table = np.ones((2, 2), np.float32)
    closed = fborn.make_jaxpr(lambda x: lax.dot(x, table))(f32(2, 2))
    text = str(closed)
    assert text.startswith("{ lambda a:f32[2,2]; b:f32[2,2]. let\n")
    assert "dot_general[" in text and " b a\n" in text
    np.testing.assert_array_equal(np.asarray(closed.consts[0]), table)


def test_many_variables_get_two_letter_names() -> None:
    def chain(x: Any) -> Any:
        for _ in range(27):
            x = lax.neg(x)
        return x

    lines = str(fborn.make_jaxpr(chain)(f32(1))).splitlines()
    assert lines[-2] == "    bb:f32[1] = neg ba"
    assert lines[-1] == "  in (bb,) }"


# --- evaluation --------------------------------------------------------------------------------

UNARY = {"sin": lax.sin, "exp": lax.exp, "neg": lax.neg, "tanh": lax.tanh, "abs": lax.abs}
BINARY = {"add": lax.add, "mul": lax.mul, "sub": lax.sub, "max": lax.max}


def build(program: list[tuple[str, int]]) -> Callable[[Any, Any], Any]:
    """A function of (x, y) applying the ops in ``program``; binary ops read x or y."""

    def f(x: Any, y: Any) -> Any:
        h = x
        for name, which in program:
            if name in UNARY:
                h = UNARY[name](h)
            else:
                h = BINARY[name](h, (x, y)[which])
        return h

    return f


programs = st.lists(
    st.tuples(st.sampled_from(sorted(UNARY) + sorted(BINARY)), st.integers(0, 1)),
    min_size=1, max_size=6,
)
values = hnp.arrays(
    np.float32, hnp.array_shapes(max_dims=3, max_side=4),
    elements=st.floats(-3, 3, width=32),
)


@settings(max_examples=40, deadline=None)
@given(program=programs, x=values, data=st.data())
def test_eval_jaxpr_matches_function(program: list, x: np.ndarray, data: Any) -> None:
    y = data.draw(hnp.arrays(np.float32, x.shape, elements=st.floats(-3, 3, width=32)))
    f = build(program)
    closed = fborn.make_jaxpr(f)(x, y)
    fborn.typecheck_jaxpr(closed.jaxpr)
    assert [a.shape for a in closed.out_avals] == [x.shape]
    (out,) = fborn.eval_jaxpr(closed.jaxpr, closed.consts, x, y)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(f(x, y)))
    assert len(closed.eqns) == len(program)


def test_eval_jaxpr_with_consts_and_literals() -> None:
    c = fborn.numpy.asarray(f32(3))
    f = lambda x: lax.mul(lax.sub(x, c), 3.0)
    closed = fborn.make_jaxpr(f)(f32(3))
    x = np.array([5.0, -1.0, 2.5], np.float32)
    (out,) = fborn.eval_jaxpr(closed.jaxpr, closed.consts, x)
    np.testing.assert_array_equal(np.asarray(out), np.array([15.0, -6.0, 1.5], np.float32))


def test_eval_jaxpr_wrong_arity() -> None:
    closed = fborn.make_jaxpr(lambda x: lax.sin(x))(f32(3))
    with pytest.raises(TypeError, match="takes 1 inputs, got 2"):
        fborn.eval_jaxpr(closed.jaxpr, closed.consts, f32(3), f32(3))


def test_eval_jaxpr_under_make_jaxpr_restages() -> None:
    closed = fborn.make_jaxpr(lambda x, y: lax.add(lax.sin(x), y))(f32(3), f32(3))
    again = fborn.make_jaxpr(lambda x, y: fborn.eval_jaxpr(closed.jaxpr, [], x, y)[0])(
        f32(3), f32(3))
    assert str(again) == str(closed)


# --- typechecking ------------------------------------------------------------------------------

def test_typecheck_accepts_traced() -> None:
    for f, args in [
        (lambda x, y: lax.add(lax.sin(x), y), (f32(3), f32(3))),
        (lambda x: lax.reduce_max(lax.transpose(x, (1, 0)), (1,)), (f32(2, 3),)),
        (lambda x: lax.dot(x, lax.reshape(x, (3, 2))), (f32(2, 3),)),
    ]:
        fborn.typecheck_jaxpr(fborn.make_jaxpr(f)(*args).jaxpr)


def test_typecheck_rejects_wrong_outvar_aval() -> None:
    jaxpr = fborn.make_jaxpr(lambda x: lax.exp(lax.sin(x)))(f32(3)).jaxpr
    jaxpr.eqns[0].outvars[0].aval = ShapedArray((4,), F32)
    with pytest.raises(JaxprTypeError, match=r"sin.*binds \[ShapedArray\(f32\[4\]\)\]"):
        fborn.typecheck_jaxpr(jaxpr)


def test_typecheck_rejects_wrong_outvar_dtype() -> None:
    jaxpr = fborn.make_jaxpr(lambda x: lax.neg(x))(f32(2)).jaxpr
    jaxpr.eqns[0].outvars[0].aval = ShapedArray((2,), np.dtype(np.int32))
    with pytest.raises(JaxprTypeError, match="neg"):
        fborn.typecheck_jaxpr(jaxpr)


def test_typecheck_rejects_use_before_binding() -> None:
    jaxpr = fborn.make_jaxpr(lambda x: lax.exp(lax.sin(x)))(f32(3)).jaxpr
    broken = Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, jaxpr.eqns[::-1])
    with pytest.raises(JaxprTypeError, match="exp uses a variable before it is bound"):
        fborn.typecheck_jaxpr(broken)


def test_typecheck_rejects_unbound_output_and_double_binding() -> None:
    aval = ShapedArray((3,), F32)
    a, b = Var(aval), Var(aval)
    with pytest.raises(JaxprTypeError, match="the output uses a variable before it is bound"):
        fborn.typecheck_jaxpr(Jaxpr([], [a], [b], []))
    sin = fborn.make_jaxpr(lambda x: lax.sin(x))(f32(3)).eqns[0].primitive
    with pytest.raises(JaxprTypeError, match="bound twice"):
        fborn.typecheck_jaxpr(Jaxpr([], [a], [a], [JaxprEqn(sin, [a], [a], {})]))


def test_typecheck_rejects_ill_typed_operands() -> None:
    jaxpr = fborn.make_jaxpr(lambda x, y: lax.add(x, y))(f32(3), f32(3)).jaxpr
    jaxpr.invars[1].aval = ShapedArray((4,), F32)
    with pytest.raises(JaxprTypeError, match="does not typecheck: add: operands must have equal "
                       "shapes"):
        fborn.typecheck_jaxpr(jaxpr)


# --- eval_shape, ShapeDtypeStruct, static args, pytrees ----------------------------------------

def test_eval_shape() -> None:
    out = fborn.eval_shape(lambda x, w: lax.dot(x, w), f32(5, 3), f32(3, 2))
    assert out == fborn.ShapeDtypeStruct((5, 2), np.float32)
    weak = fborn.eval_shape(lambda x: lax.mul(x, 2.0), 1.0)
    assert weak == fborn.ShapeDtypeStruct((), np.float32, weak_type=True)
    tree = fborn.eval_shape(lambda d: {"s": lax.reduce_sum(d["a"], (0, 1)), "t": (d["a"],)},
                            {"a": fborn.ShapeDtypeStruct((2, 4), np.int32)})
    assert tree == {"s": fborn.ShapeDtypeStruct((), np.int32),
                    "t": (fborn.ShapeDtypeStruct((2, 4), np.int32),)}


def test_eval_shape_does_no_work() -> None:
    calls = []

    def f(x: Any) -> Any:
        calls.append(type(x))
        return lax.exp(x)

    assert fborn.eval_shape(f, fborn.ShapeDtypeStruct((1000, 1000), np.float32)).shape == (
        1000, 1000)
    assert calls and all(issubclass(c, fborn.Array) for c in calls)


def test_shape_dtype_struct_inputs() -> None:
    spec = fborn.ShapeDtypeStruct((2, 3), "bfloat16")
    closed = fborn.make_jaxpr(lambda x: lax.neg(x))(spec)
    assert str(closed) == (
        "{ lambda ; a:bf16[2,3]. let\n"
        "    b:bf16[2,3] = neg a\n"
        "  in (b,) }"
    )
    assert repr(spec) == "ShapeDtypeStruct(shape=(2, 3), dtype=bfloat16)"


def test_static_argnums() -> None:
    f = lambda x, n: lax.integer_pow(x, n)
    closed = fborn.make_jaxpr(f, static_argnums=1)(f32(3), 3)
    assert str(closed) == (
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[3] = integer_pow[y=3] a\n"
        "  in (b,) }"
    )
    negative = fborn.make_jaxpr(lambda n, x: lax.reshape(x, (n, 6 // n)),
                                static_argnums=(-2,))(2, f32(6))
    assert negative.in_avals == [ShapedArray((6,), F32)]
    assert negative.out_avals == [ShapedArray((2, 3), F32)]


def test_static_arg_controls_python_flow() -> None:
    def f(x: Any, flag: bool) -> Any:
        return lax.sin(x) if flag else lax.cos(x)

    assert "sin" in str(fborn.make_jaxpr(f, static_argnums=1)(f32(2), True))
    assert "cos" in str(fborn.make_jaxpr(f, static_argnums=1)(f32(2), False))


def test_pytree_inputs_and_outputs() -> None:
    def f(params: dict, xs: tuple) -> Any:
        h = lax.add(lax.dot(xs[0], params["w"]), params["b"])
        return {"out": h, "aux": [xs[1]]}

    params = {"w": f32(3, 2), "b": f32(4, 2)}
    closed, shapes = fborn.make_jaxpr(f, return_shape=True)(params, (f32(4, 3), np.int32(7)))
    # leaves in pytree order: the dict's keys sorted, then the tuple
    assert closed.in_avals == [ShapedArray((4, 2), F32), ShapedArray((3, 2), F32),
                               ShapedArray((4, 3), F32), ShapedArray((), np.dtype(np.int32))]
    assert shapes == {"aux": [fborn.ShapeDtypeStruct((), np.int32)],
                      "out": fborn.ShapeDtypeStruct((4, 2), np.float32)}
    outs = fborn.eval_jaxpr(closed.jaxpr, closed.consts, params["b"], params["w"], f32(4, 3),
                            np.int32(7))
    np.testing.assert_allclose(np.asarray(outs[1]), f32(4, 3) @ f32(3, 2) + f32(4, 2))
    assert int(outs[0]) == 7


def test_kwargs_are_traced() -> None:
    closed = fborn.make_jaxpr(lambda x, *, y: lax.sub(x, y))(f32(2), y=f32(2))
    assert closed.in_avals == [ShapedArray((2,), F32)] * 2
    assert [e.primitive.name for e in closed.eqns] == ["sub"]


def test_per_jaxpr_builds_once_per_object_and_extra_key() -> None:
    from fborn.core.jaxpr import PerJaxpr

    cache: PerJaxpr[int] = PerJaxpr()
    calls = []

    def build() -> int:
        calls.append(1)
        return len(calls)

    a = fborn.make_jaxpr(lambda x: x + 1)(1.0)
    b = fborn.make_jaxpr(lambda x: x + 1)(1.0)  # equal text, another object
    assert cache.get(a, build) == 1 and cache.get(a, build) == 1
    assert cache.get(b, build) == 2
    assert cache.get(a, build, extra=3) == 3 and cache.get(a, build, extra=3) == 3
