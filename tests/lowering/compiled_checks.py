"""Comparing a function compiled by ``fborn.jit`` (numba) with its eager evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

import fborn
from fborn.tree_util import tree_leaves

_HALF = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
_JITTED: dict[Callable, Callable] = {}


def jitted(f: Callable) -> Callable:
    """``fborn.jit(f)``, one per function (so its compiled programs are reused)."""
    return _JITTED.setdefault(f, fborn.jit(f))


def source(f: Callable, *args: Any) -> str:
    """The generated numba module of ``f`` on ``args``."""
    return jitted(f).lower(*args).as_text()


def assert_compiled_equal(f: Callable, *args: Any, rtol: float = 0.0, atol: float = 0.0,
                          loose: int | None = None) -> None:
    """``fborn.jit(f)`` gives the eager result: same dtypes and shapes, equal values (NaNs in
    the same places; 16-bit floats compared as float32, so NaN payloads may differ) or, with
    ``rtol``/``atol``, close ones (only for the last ``loose`` outputs if given)."""
    eager = tree_leaves(f(*args))
    compiled = tree_leaves(jitted(f)(*args))
    assert len(eager) == len(compiled)
    first_loose = 0 if loose is None else len(eager) - loose
    for k, (e, c) in enumerate(zip(eager, compiled, strict=True)):
        e, c = np.asarray(e), np.asarray(c)
        assert c.dtype == e.dtype and c.shape == e.shape
        if e.dtype in _HALF:
            e, c = e.astype(np.float32), c.astype(np.float32)
        if (rtol or atol) and k >= first_loose:
            np.testing.assert_allclose(c, e, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(c, e)
