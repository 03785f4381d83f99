"""fborn's error types and messages: shape and dtype errors naming the primitive, the shapes and
the caller's line; concretization errors on tracers; leaked tracers; pytree mismatches;
unsupported dtypes."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn import lax
from fborn.errors import (
    ConcretizationError,
    FbornDtypeError,
    FbornError,
    FbornShapeError,
    LeakedTracerError,
    PyTreeError,
)

THIS_FILE = os.path.basename(__file__)


def f32(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


def test_hierarchy_matches_builtin_types() -> None:
    assert issubclass(FbornShapeError, TypeError) and issubclass(FbornShapeError, FbornError)
    assert issubclass(FbornDtypeError, TypeError)
    assert issubclass(ConcretizationError, TypeError)
    assert issubclass(LeakedTracerError, RuntimeError)
    assert issubclass(PyTreeError, ValueError)
    assert issubclass(fborn.errors.JaxprTypeError, FbornError)


def line_of(marker: str) -> int:
    """The line number in this file of the line containing ``marker``."""
    with open(__file__) as f:
        for number, line in enumerate(f, start=1):
            if marker in line and "line_of(" not in line:
                return number
    raise AssertionError(marker)


def test_shape_error_names_primitive_shapes_and_caller_line() -> None:
    with pytest.raises(FbornShapeError) as info:
        lax.add(f32(3), f32(4))  # MARK-add
    message = str(info.value)
    assert message.startswith("add: operands must have equal shapes, got f32[3], f32[4]")
    assert f"{THIS_FILE}:{line_of('MARK-add')}" in message


def test_shape_error_under_make_jaxpr_points_at_user_code() -> None:
    def model(x: Any, w: Any) -> Any:
        return lax.dot(x, w)  # MARK-dot

    with pytest.raises(FbornShapeError) as info:
        fborn.make_jaxpr(model)(f32(2, 3), f32(4, 5))
    message = str(info.value)
    assert message.startswith("dot_general:")
    assert "f32[2,3]" in message and "f32[4,5]" in message
    assert f"{THIS_FILE}:{line_of('MARK-dot')} (model)" in message


def test_numpy_level_shape_error() -> None:
    with pytest.raises(FbornShapeError, match=re.escape("(2, 3), (4,)")):
        fnp.add(f32(2, 3), f32(4))  # broadcasting failure names both shapes


def test_dtype_errors() -> None:
    with pytest.raises(FbornDtypeError) as info:
        lax.add(f32(3), np.ones(3, np.int32))  # MARK-dtype
    message = str(info.value)
    assert message.startswith("add: operands must have equal dtypes, got f32[3], i32[3]")
    assert f"{THIS_FILE}:{line_of('MARK-dtype')}" in message
    with pytest.raises(FbornDtypeError, match="sin: operand must be floating, got i32"):
        lax.sin(np.ones(3, np.int32))


def test_error_is_catchable_as_type_error() -> None:
    with pytest.raises(TypeError):
        lax.mul(f32(2), f32(3))


def traced_error(fn: Any, *args: Any) -> str:
    with pytest.raises(ConcretizationError) as info:
        fborn.make_jaxpr(fn)(*args)
    return str(info.value)


def test_concretization_bool_int_float() -> None:
    message = traced_error(lambda x: bool(x), np.float32(1))
    assert "Abstract tracer value encountered" in message and "f32[]" in message
    assert "static_argnums" in message
    assert "i32[]" in traced_error(lambda x: int(x), np.int32(1))
    assert "f32[2]" in traced_error(lambda x: float(x), f32(2))
    assert "f32[]" in traced_error(lambda x: x.item(), np.float32(1))
    traced_error(lambda x: range(x), np.int32(3))


def test_concretization_np_asarray() -> None:
    message = traced_error(lambda x: np.asarray(x), f32(3))
    assert "__array__()" in message and "f32[3]" in message


def test_concretization_python_if_on_comparison() -> None:
    def f(x: Any) -> Any:
        if x > 0:
            return x
        return -x

    message = traced_error(f, np.float32(1))
    assert "bool[]" in message and "lax.cond" in message


def test_concrete_arrays_convert() -> None:
    x = fnp.asarray(np.float32(2.5))
    assert bool(x) and int(x) == 2 and float(x) == 2.5
    assert (fnp.asarray(3) > 0).tolist() is True


def test_leaked_tracer_used_after_trace() -> None:
    leaked: list = []

    def f(x: Any) -> Any:
        leaked.append(x)
        return lax.sin(x)

    fborn.make_jaxpr(f)(f32(3))
    with pytest.raises(LeakedTracerError, match=r"Traced<f32\[3\]>with<make_jaxpr>") as info:
        lax.sin(leaked[0])
    assert "escaped" in str(info.value)
    with pytest.raises(LeakedTracerError):
        fborn.make_jaxpr(lambda y: lax.add(y, leaked[0]))(f32(3))
    with pytest.raises(LeakedTracerError):
        leaked[0] + 1.0


def test_tree_map_structure_mismatch() -> None:
    tree_map = fborn.tree_util.tree_map
    with pytest.raises(ValueError, match=r"expected a list with 2 children, got 3"):
        tree_map(lambda a, b: a, [1, 2], [1, 2, 3])
    with pytest.raises(PyTreeError, match=r"expected keys \['a'\], got keys \['b'\]"):
        tree_map(lambda a, b: a, {"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="tree_map"):
        tree_map(lambda a, b: a, (1, 2), [1, 2])


@pytest.mark.parametrize("data", [np.ones(2, np.complex64), np.ones(2, np.complex128),
                                  np.array(["a", "b"]), np.array([b"x"]),
                                  np.array([object()], dtype=object)])
def test_unsupported_data(data: np.ndarray) -> None:
    with pytest.raises(FbornDtypeError, match=re.escape(f"dtype {data.dtype}")):
        fnp.asarray(data)


def test_unsupported_dtype_argument() -> None:
    with pytest.raises(FbornDtypeError, match="dtype complex64 is not supported by fborn"):
        lax.convert_element_type(f32(2), np.complex64)
    with pytest.raises(FbornDtypeError, match="not supported"):
        fnp.asarray(f32(2), dtype=np.complex128)
    with pytest.raises(FbornDtypeError):
        fborn.ShapeDtypeStruct((2,), "str")
    with pytest.raises(FbornDtypeError):
        fnp.asarray(1j)
