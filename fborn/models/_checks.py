"""Argument checks shared by the layers: sizes fixed at construction, and input shapes."""

from __future__ import annotations

import operator
import os
import sys
from collections.abc import Sequence
from typing import Any

import jaxtyping

import fborn
from fborn.typing import TypeCheckError

# Frames of these packages are skipped when naming the user's source line.
_LIBRARY_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (fborn, jaxtyping))


def size(value: Any, name: str, layer: str, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``; TypeError/ValueError naming the layer otherwise."""
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}") from None
    if out < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {out}")
    return out


def sizes(value: int | Sequence[int], count: int, name: str, layer: str,
          minimum: int = 1) -> tuple[int, ...]:
    """An int broadcast to ``count`` entries, or a sequence of ``count`` ints >= ``minimum``."""
    items = (value,) * count if not isinstance(value, Sequence) else tuple(value)
    if len(items) != count:
        raise ValueError(f"{layer}: {name} must be an int or {count} ints, got {value!r}")
    return tuple(size(v, name, layer, minimum) for v in items)


def input_size(layer: object, x: Any, axis: int, name: str, expected: int) -> None:
    """Raise TypeCheckError when ``x.shape[axis]`` is not the ``expected`` size of dimension
    ``name`` (the message names the layer's class, the dimension and both sizes)."""
    got = x.shape[axis]
    if got != expected:
        raise shape_error(f"{type(layer).__name__}: the input has {name}={got} (axis {axis} of "
                          f"shape {tuple(x.shape)}), but the layer was built with "
                          f"{name}={expected}")


def input_rank(layer: object, x: Any, ranks: tuple[int, ...], layout: str) -> None:
    """Raise TypeCheckError when ``x.ndim`` is not one of ``ranks`` (``layout`` describes the
    expected axes, e.g. '(C, H, W) or (N, C, H, W)')."""
    if x.ndim not in ranks:
        raise shape_error(f"{type(layer).__name__}: expected an input of shape {layout}, got "
                          f"shape {tuple(x.shape)} (rank {x.ndim})")


def shape_error(message: str) -> TypeCheckError:
    """A TypeCheckError with ``message`` and the user's source line."""
    where = _user_frame()
    return TypeCheckError(f"{message}\n  (called from {where})" if where else message)


def _user_frame() -> str:
    """``file:line (function)`` of the innermost frame outside fborn, jaxtyping and beartype."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_LIBRARY_DIRS) and "beartype" not in filename:
            return f"{frame.f_code.co_filename}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return ""
