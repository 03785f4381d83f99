"""fborn.typing.typecheck: jaxtyping + beartype checks of fborn arrays and tracers, with errors
naming the function, the argument, the dimension and both sizes."""
# ruff: noqa: F722, F821, UP037 - jaxtyping shape strings are not forward references

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jaxtyping
import ml_dtypes
import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn import lax
from fborn.errors import FbornShapeError
from fborn.typing import (
    BFloat16,
    Bool,
    Float,
    Float32,
    Int,
    Integer,
    Shaped,
    TypeCheckError,
    UInt,
    typecheck,
)

THIS_FILE = os.path.basename(__file__)
Array = fborn.Array


def ones(shape: tuple[int, ...], dtype: Any = np.float32) -> fborn.Array:
    return fnp.asarray(np.ones(shape, np.float32)).astype(dtype)


# Functions under test live at module level: with ``from __future__ import annotations`` their
# annotations are strings, resolved in this module's globals.

@typecheck
def linear(x: Float[Array, "batch 784"], w: Float[Array, "784 10"]) -> Float[Array, "batch 10"]:
    """A documented layer."""
    return lax.dot(x, w)


@typecheck
def pair(x: Float[Array, "batch"], y: Float[Array, "batch"]) -> Float[Array, "batch"]:
    return lax.add(x, y)


@typecheck
def square(m: Shaped[Array, "n n"]) -> Shaped[Array, "n n"]:
    return m


@typecheck
def fixed(x: Float[Array, "3"]) -> Float[Array, "3"]:
    return x


@typecheck
def batched(x: Float[Array, "*batch 2"], y: Int[Array, "*batch"]) -> Float[Array, "*batch"]:
    return lax.reduce_sum(x, (x.ndim - 1,))


@typecheck
def loose(x: Float[Array, "... _ #k"], y: Float[Array, "#k"]) -> Float[Array, "..."]:
    return x


@typecheck
def bad_return(x: Float[Array, "n"]) -> Float[Array, "n 1"]:
    return x


@typecheck
def scaled(x: Float[Array, "n"], factor: int) -> Float[Array, "n"]:
    return lax.mul(x, float(factor))


@typecheck
def outer_caller(x: Float[Array, "n"]) -> Float[Array, "n"]:
    return pair(x, ones((x.shape[0] + 1,)))


@typecheck
def body_error(x: Float[Array, "n"]) -> Float[Array, "n"]:
    return lax.add(x, ones((x.shape[0] + 1,)))


@typecheck
def varargs(*xs: Float[Array, "n"]) -> Float[Array, "n"]:
    return xs[0]


TRACE_CALLS: list[int] = []


@typecheck
def counted(x: Float[Array, "batch 4"]) -> Float[Array, "batch"]:
    TRACE_CALLS.append(1)
    return lax.reduce_sum(x, (1,))


@typecheck
@dataclasses.dataclass(frozen=True)
class Dense:
    w: Float[Array, "din dout"]
    b: Float[Array, "dout"]


def first_line(error: pytest.ExceptionInfo) -> str:
    return str(error.value).splitlines()[0]


# --- passing calls -----------------------------------------------------------------------------

def test_correct_calls_pass() -> None:
    out = linear(ones((2, 784)), ones((784, 10)))
    assert out.shape == (2, 10)
    np.testing.assert_array_equal(np.asarray(out), np.full((2, 10), 784.0, np.float32))
    assert pair(ones((5,)), ones((5,))).shape == (5,)
    assert square(ones((3, 3), np.int32)).dtype == np.int32
    assert fixed(ones((3,))).shape == (3,)
    assert batched(ones((4, 5, 2)), ones((4, 5), np.int32)).shape == (4, 5)
    assert batched(ones((2,)), ones((), np.int32)).shape == ()
    assert loose(ones((7, 2, 3)), ones((3,))).shape == (7, 2, 3)
    assert loose(ones((2, 1)), ones((5,))).shape == (2, 1)  # '#k' broadcasts from 1
    assert scaled(ones((2,)), 3).tolist() == [3.0, 3.0]
    assert varargs(ones((2,)), ones((2,))).shape == (2,)


def test_wrapper_keeps_metadata() -> None:
    assert linear.__name__ == "linear" and linear.__doc__ == "A documented layer."
    assert linear.__wrapped__.__name__ == "linear"


def test_sizes_are_scoped_per_call() -> None:
    assert pair(ones((2,)), ones((2,))).shape == (2,)
    assert pair(ones((7,)), ones((7,))).shape == (7,)


# --- failures ----------------------------------------------------------------------------------

def test_named_dimension_mismatch() -> None:
    with pytest.raises(TypeCheckError) as info:
        pair(ones((4,)), ones((3,)))
    assert first_line(info) == (
        "pair: argument y has dimension 'batch'=3 (axis 0), but argument x (axis 0) "
        "bound 'batch'=4")
    message = str(info.value)
    assert f"{THIS_FILE}:" in message and "(called from" in message
    assert "jaxtyping's report:" in message and "parameter 'y'" in message
    assert isinstance(info.value, FbornShapeError)
    assert isinstance(info.value, jaxtyping.TypeCheckError)
    assert isinstance(info.value, TypeError)


def test_mismatch_across_two_matrix_arguments() -> None:
    with pytest.raises(TypeCheckError) as info:
        linear(ones((2, 784)), ones((783, 10)))
    assert first_line(info) == (
        "linear: argument w has size 783 at axis 0, but Float[Array, '784 10'] requires 784")


def test_dimension_repeated_within_one_argument() -> None:
    with pytest.raises(TypeCheckError) as info:
        square(ones((3, 4)))
    assert first_line(info) == (
        "square: argument m has dimension 'n'=4 (axis 1), but argument m (axis 0) bound 'n'=3")


def test_fixed_size_and_rank() -> None:
    with pytest.raises(TypeCheckError) as info:
        fixed(ones((4,)))
    assert first_line(info) == (
        "fixed: argument x has size 4 at axis 0, but Float[Array, '3'] requires 3")
    with pytest.raises(TypeCheckError) as info:
        fixed(ones((3, 1)))
    assert first_line(info) == (
        "fixed: argument x has shape (3, 1) (rank 2), but Float[Array, '3'] requires rank 1")


def test_variadic_dimensions() -> None:
    with pytest.raises(TypeCheckError) as info:
        batched(ones((4, 5, 2)), ones((4, 6), np.int32))
    assert first_line(info) == (
        "batched: argument y has dimension '*batch'=(4, 6), but argument x bound "
        "'*batch'=(4, 5)")
    with pytest.raises(TypeCheckError) as info:
        batched(ones(()), ones((), np.int32))
    assert first_line(info) == (
        "batched: argument x has shape () (rank 0), but Float[Array, '*batch 2'] requires "
        "rank at least 1")


def test_broadcastable_dimension_still_checks_other_sizes() -> None:
    with pytest.raises(TypeCheckError) as info:
        loose(ones((2, 3)), ones((4,)))
    assert first_line(info) == (
        "loose: argument y has dimension 'k'=4 (axis 0), but argument x (axis 1) bound 'k'=3")


def test_wrong_dtype() -> None:
    with pytest.raises(TypeCheckError) as info:
        pair(ones((2,), np.int32), ones((2,)))
    assert first_line(info) == (
        "pair: argument x has dtype int32, but Float[Array, 'batch'] accepts only bfloat16, "
        "float16, float32, float64")
    with pytest.raises(TypeCheckError) as info:
        batched(ones((3, 2)), ones((3,)))
    assert "argument y has dtype float32, but Int[Array, '*batch'] accepts only int8, int16, " \
           "int32, int64" in first_line(info)


def test_not_an_array_and_plain_annotations() -> None:
    with pytest.raises(TypeCheckError) as info:
        pair(np.ones(2, np.float32), ones((2,)))
    assert first_line(info) == "pair: argument x has type ndarray, not Float[Array, 'batch']"
    with pytest.raises(TypeCheckError) as info:
        scaled(ones((2,)), "3")
    assert first_line(info) == "scaled: argument factor has type str, not int"
    with pytest.raises(TypeCheckError) as info:
        varargs(ones((2,)), ones((3,)))
    assert first_line(info).startswith("varargs: argument xs[1] has dimension 'n'=3")


def test_return_value_mismatch() -> None:
    with pytest.raises(TypeCheckError) as info:
        bad_return(ones((3,)))
    assert first_line(info) == (
        "bad_return: the return value has shape (3,) (rank 1), but Float[Array, 'n 1'] "
        "requires rank 2")
    assert "checking the return value" in str(info.value)


def test_errors_inside_the_body_pass_through() -> None:
    with pytest.raises(TypeCheckError) as info:
        outer_caller(ones((2,)))
    assert first_line(info) == (
        "pair: argument y has dimension 'batch'=3 (axis 0), but argument x (axis 0) "
        "bound 'batch'=2")
    with pytest.raises(FbornShapeError) as shape_info:
        body_error(ones((2,)))
    assert not isinstance(shape_info.value, TypeCheckError)
    assert str(shape_info.value).startswith("add: operands must have equal shapes")


def test_dataclass_fields_are_checked() -> None:
    layer = Dense(ones((3, 2)), ones((2,)))
    assert layer.w.shape == (3, 2)
    with pytest.raises(TypeCheckError) as info:
        Dense(ones((3, 2)), ones((3,)))
    assert "argument b has dimension 'dout'=3 (axis 0), but argument w (axis 1) bound " \
           "'dout'=2" in first_line(info)


def test_annotations_given_as_objects() -> None:
    def raw(x):  # noqa: ANN001, ANN202 - annotations are set below
        return x

    raw.__annotations__ = {"x": Float[Array, "n 2"]}
    checked = typecheck(raw)
    assert checked(ones((1, 2))).shape == (1, 2)
    with pytest.raises(TypeCheckError, match="raw: argument x has size 3 at axis 1"):
        checked(ones((1, 3)))


# --- tracing -----------------------------------------------------------------------------------

def test_checks_run_once_per_trace() -> None:
    TRACE_CALLS.clear()
    closed = fborn.make_jaxpr(counted)(np.ones((5, 4), np.float32))
    assert len(TRACE_CALLS) == 1
    assert closed.out_avals[0].shape == (5,)
    (out,) = fborn.eval_jaxpr(closed.jaxpr, closed.consts, np.ones((5, 4), np.float32))
    assert np.asarray(out).tolist() == [4.0] * 5
    assert len(TRACE_CALLS) == 1  # evaluating the jaxpr does not rerun the check


def test_mismatch_found_while_tracing() -> None:
    with pytest.raises(TypeCheckError) as info:
        fborn.make_jaxpr(counted)(np.ones((5, 3), np.float32))
    assert first_line(info) == (
        "counted: argument x has size 3 at axis 1, but Float[Array, 'batch 4'] requires 4")
    assert "Traced<f32[5,3]>with<make_jaxpr>" in str(info.value)
    with pytest.raises(TypeCheckError, match="pair: argument y has dimension 'batch'=3"):
        fborn.make_jaxpr(pair)(np.ones(2, np.float32), np.ones(3, np.float32))
    shapes = fborn.eval_shape(pair, fborn.ShapeDtypeStruct((6,), np.float32),
                              fborn.ShapeDtypeStruct((6,), np.float32))
    assert shapes == fborn.ShapeDtypeStruct((6,), np.float32)


# --- dtype annotations accept fborn's dtypes ---------------------------------------------------

ACCEPTS = {
    "Float": (Float, {"bfloat16", "float16", "float32"}),
    "Float32": (Float32, {"float32"}),
    "BFloat16": (BFloat16, {"bfloat16"}),
    "Int": (Int, {"int8", "int16", "int32"}),
    "UInt": (UInt, {"uint8", "uint16", "uint32"}),
    "Integer": (Integer, {"int8", "int16", "int32", "uint8", "uint16", "uint32"}),
    "Bool": (Bool, {"bool"}),
    "Shaped": (Shaped, {"bool", "int8", "int16", "int32", "uint8", "uint16", "uint32",
                        "bfloat16", "float16", "float32"}),
}
DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32,
          ml_dtypes.bfloat16, np.float16, np.float32]


@pytest.mark.parametrize("name", sorted(ACCEPTS))
def test_dtype_annotations_accept_fborn_dtypes(name: str) -> None:
    kind, accepted = ACCEPTS[name]

    def identity(v):  # noqa: ANN001, ANN202 - annotated below
        return v

    identity.__annotations__ = {"v": kind[Array, "a b"]}
    checked = typecheck(identity)
    for dtype in DTYPES:
        x = ones((2, 3), dtype)
        ok = np.dtype(dtype).name in accepted
        assert isinstance(x, kind[Array, "a b"]) == ok, dtype
        if ok:
            assert checked(x) is x
        else:
            with pytest.raises(TypeCheckError, match=f"has dtype {np.dtype(dtype).name}, but"):
                checked(x)


@pytest.mark.parametrize("name", sorted(ACCEPTS))
def test_dtype_annotations_under_tracing(name: str) -> None:
    kind, accepted = ACCEPTS[name]

    def check(v: Any) -> Any:
        assert isinstance(v, kind[Array, "a 3"]) == (np.dtype(v.dtype).name in accepted)
        return v

    for dtype in DTYPES:
        fborn.make_jaxpr(check)(fborn.ShapeDtypeStruct((2, 3), dtype))


def test_float64_accepted_under_x64() -> None:
    previous = fborn.config.enable_x64
    fborn.config.update("enable_x64", True)
    try:
        assert pair(ones((2,), np.float64), ones((2,), np.float64)).dtype == np.float64
        assert isinstance(ones((2,), np.int64), Int[Array, "n"])
    finally:
        fborn.config.update("enable_x64", previous)
