"""Silencing numpy's floating-point warnings around reference implementations, cheaply.

fborn follows IEEE semantics silently (``log(0) = -inf``, as JAX). ``np.errstate`` costs about a
microsecond per use, which dominates eager dispatch of small ops, so we set numpy's context
variable directly when this numpy exposes it, and fall back to ``np.errstate`` otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

try:
    from numpy._core import _ufunc_config

    _VAR = _ufunc_config._extobj_contextvar
    with np.errstate(all="ignore"):
        _IGNORE = _VAR.get()
except (ImportError, AttributeError):  # pragma: no cover - other numpy layouts
    _VAR = None


@contextlib.contextmanager
def _errstate_ignore() -> Iterator[None]:
    with np.errstate(all="ignore"):
        yield


def call_quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with numpy floating-point warnings ignored."""
    if _VAR is None:
        with _errstate_ignore():
            return fn(*args, **kwargs)
    token = _VAR.set(_IGNORE)
    try:
        return fn(*args, **kwargs)
    finally:
        _VAR.reset(token)
