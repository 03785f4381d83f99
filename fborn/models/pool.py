"""2-d pooling of channel-first inputs: ``MaxPool2d`` and ``AvgPool2d``.

fborn has no ``reduce_window``: a pool is the maximum (or sum) of the strided slices of the
(padded) input taken at each kernel offset, so it differentiates, vmaps and jits like any
elementwise chain. Windows that tile the input exactly (stride == kernel and divisible sizes,
the common case) are instead a reshape into tiles and a reduction: fewer kernels. The gradient
of a maximum is shared among tied elements (as JAX; PyTorch picks one).
"""
# ruff: noqa: F722 - jaxtyping shape strings

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fborn import lax
from fborn.core.array import Array
from fborn.models import _checks
from fborn.models.conv import PaddingLike, normalize_padding
from fborn.models.module import Module, field
from fborn.typing import Float, typecheck

__all__ = ["AvgPool2d", "MaxPool2d"]


def _pool(x: Array, init: float, reduce: str, kernel: tuple[int, ...], stride: tuple[int, ...],
          padding: tuple[tuple[int, int], ...], layer: object) -> Array:
    """Reduce (``'max'`` or ``'sum'``) the windows of the last ``len(kernel)`` axes of ``x``,
    padded with ``init``; windows that do not fit at the end are dropped."""
    lead = x.ndim - len(kernel)
    if any(lo or hi for lo, hi in padding):
        x = lax.pad(x, np.array(init, x.dtype), [(0, 0, 0)] * lead
                    + [(lo, hi, 0) for lo, hi in padding])
    spatial = x.shape[lead:]
    if any(n < k for n, k in zip(spatial, kernel, strict=True)):
        raise _checks.shape_error(f"{type(layer).__name__}: the padded input's spatial shape "
                                  f"{tuple(spatial)} is smaller than the kernel {kernel}")
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, kernel, stride, strict=True))
    if stride == kernel and all(m * k == n for m, k, n in zip(out, kernel, spatial,
                                                                strict=True)):
        return _pool_tiles(x, reduce, kernel, out)
    combine = lax.max if reduce == "max" else lax.add
    strides = (1,) * lead + stride
    acc = None
    for offset in itertools.product(*(range(k) for k in kernel)):
        limit = [o + (m - 1) * s + 1 for o, m, s in zip(offset, out, stride, strict=True)]
        window = lax.slice(x, (0,) * lead + offset, (*x.shape[:lead], *limit), strides)
        acc = window if acc is None else combine(acc, window)
    return acc


def _pool_tiles(x: Array, reduce: str, kernel: tuple[int, ...], out: tuple[int, ...]) -> Array:
    """Windows tiling the input exactly (stride == kernel, sizes divisible): split each spatial
    axis into (tiles, kernel) and reduce the kernel axes (fewer, fused kernels than the general
    strided-slice form, forward and backward)."""
    lead = x.ndim - len(kernel)
    tiled = lax.reshape(x, (*x.shape[:lead], *itertools.chain.from_iterable(
        zip(out, kernel, strict=True))))
    axes = tuple(lead + 2 * i + 1 for i in range(len(kernel)))
    return lax.reduce_max(tiled, axes) if reduce == "max" else lax.reduce_sum(tiled, axes)


class _Pool2d(Module):
    kernel_size: tuple[int, int] = field(static=True)
    stride: tuple[int, int] = field(static=True)
    padding: tuple[tuple[int, int], tuple[int, int]] = field(static=True)

    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
                 padding: PaddingLike = 0):
        name = type(self).__name__
        self.kernel_size = _checks.sizes(kernel_size, 2, "kernel_size", name)  # type: ignore[assignment]
        self.stride = (self.kernel_size if stride is None  # type: ignore[assignment]
                       else _checks.sizes(stride, 2, "stride", name))
        pads = normalize_padding(padding, 2, name)
        if isinstance(pads, str):
            raise ValueError(f"{name}: padding must be an int, 2 ints or 2 (low, high) pairs, "
                             f"got {padding!r}")
        self.padding = pads  # type: ignore[assignment]

    def _check(self, x: Array) -> None:
        _checks.input_rank(self, x, (3, 4), "(C, H, W) or (N, C, H, W)")


class MaxPool2d(_Pool2d):
    """Maximum over ``kernel_size`` windows moved by ``stride`` (default: the kernel size) over
    the last two axes of ``(C, H, W)`` or ``(N, C, H, W)`` inputs; ``padding`` adds -inf
    borders (an int, 2 ints, or 2 (low, high) pairs). No parameters, so no key."""

    @typecheck
    def __call__(self, x: Float[Array, "*batch channels height width"], *, key: Any = None
                 ) -> Float[Array, "*batch channels out_height out_width"]:
        """Pool ``x``; ``key`` is ignored. Raises TypeCheckError for a wrong rank or an input
        smaller than the kernel."""
        del key
        self._check(x)
        return _pool(x, -np.inf, "max", self.kernel_size, self.stride, self.padding, self)


class AvgPool2d(_Pool2d):
    """Mean over ``kernel_size`` windows moved by ``stride`` (default: the kernel size) over the
    last two axes of ``(C, H, W)`` or ``(N, C, H, W)`` inputs. ``padding`` adds zero borders
    that count in the mean (PyTorch's ``count_include_pad=True``). No parameters, so no key."""

    @typecheck
    def __call__(self, x: Float[Array, "*batch channels height width"], *, key: Any = None
                 ) -> Float[Array, "*batch channels out_height out_width"]:
        """Pool ``x``; ``key`` is ignored. Raises TypeCheckError for a wrong rank or an input
        smaller than the kernel."""
        del key
        self._check(x)
        total = _pool(x, 0.0, "sum", self.kernel_size, self.stride, self.padding, self)
        return total / math.prod(self.kernel_size)
