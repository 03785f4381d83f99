"""Shared operand checks for primitives' abstract evaluation rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError, FbornShapeError


def shapes_str(avals: Sequence[ShapedArray]) -> str:
    return ", ".join(a.str_short() for a in avals)


def check_same_shapes(avals: Sequence[ShapedArray]) -> tuple[int, ...]:
    shape = avals[0].shape
    if any(a.shape != shape for a in avals[1:]):
        raise FbornShapeError(f"operands must have equal shapes, got {shapes_str(avals)}")
    return shape


def check_same_dtypes(avals: Sequence[ShapedArray]) -> np.dtype:
    dtype = avals[0].dtype
    if any(a.dtype != dtype for a in avals[1:]):
        raise FbornDtypeError(f"operands must have equal dtypes, got {shapes_str(avals)}")
    return dtype


def check_dtype_kind(aval: ShapedArray, allowed: str, what: str = "operand") -> None:
    """``allowed`` is a string of kinds: 'f' float, 'i' signed int, 'u' unsigned, 'b' bool."""
    dt = aval.dtype
    kind = "f" if dtypes.is_float(dt) else dt.kind
    if kind not in allowed:
        names = {"f": "floating", "i": "signed integer", "u": "unsigned integer", "b": "bool"}
        accepted = " or ".join(names[k] for k in allowed)
        raise FbornDtypeError(f"{what} must be {accepted}, got {aval.str_short()}")


def check_axes(axes: Sequence[int], ndim: int, what: str = "axes") -> None:
    if len(set(axes)) != len(axes) or any(not 0 <= a < ndim for a in axes):
        raise FbornShapeError(f"{what} {tuple(axes)} are invalid for an array of rank {ndim}")


def all_weak(avals: Sequence[ShapedArray]) -> bool:
    return all(a.weak_type for a in avals)
