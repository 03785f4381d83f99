"""Convolutions over channel-first inputs: ``Conv`` (any number of spatial axes), ``Conv1d``,
``Conv2d``."""
# ruff: noqa: F722, UP037 - jaxtyping shape strings

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fborn import lax, random
from fborn.core.array import Array
from fborn.models import _checks
from fborn.models.linear import uniform_fan_in
from fborn.models.module import Module, field
from fborn.typing import Float, typecheck

__all__ = ["Conv", "Conv1d", "Conv2d", "normalize_padding"]

PaddingLike = str | int | Sequence[int] | Sequence[tuple[int, int]]
Padding = str | tuple[tuple[int, int], ...]


def normalize_padding(padding: PaddingLike, count: int, layer: str) -> Padding:
    """``'SAME'``/``'VALID'``/``'SAME_LOWER'`` (upper-cased), or ``count`` (low, high) pairs
    from an int (same on every side), ``count`` ints (same on both sides of each axis) or
    ``count`` pairs. Raises ValueError/TypeError for anything else."""
    if isinstance(padding, str):
        kind = padding.upper()
        if kind not in ("SAME", "VALID", "SAME_LOWER"):
            raise ValueError(f"{layer}: padding must be 'SAME', 'VALID', 'SAME_LOWER', an int or "
                             f"a tuple, got {padding!r}")
        return kind
    items = (padding,) * count if not isinstance(padding, Sequence) else tuple(padding)
    if len(items) != count:
        raise ValueError(f"{layer}: padding must be an int, {count} ints or {count} (low, high) "
                         f"pairs, got {padding!r}")
    pairs = []
    for item in items:
        pair = tuple(item) if isinstance(item, Sequence) else (item, item)
        if len(pair) != 2:
            raise ValueError(f"{layer}: padding entries must be ints or (low, high) pairs, got "
                             f"{item!r}")
        pairs.append(tuple(_checks.size(p, "padding", layer) for p in pair))
    return tuple(pairs)  # type: ignore[return-value]


class Conv(Module):
    """Convolution (cross-correlation, as PyTorch and JAX) over ``num_spatial_dims`` axes.

    Inputs are ``(C, *spatial)`` or ``(N, C, *spatial)``; ``weight`` is ``(out_channels,
    in_channels // groups, *kernel_size)`` (PyTorch's OIHW) and ``bias`` ``(out_channels,)``,
    both initialized as PyTorch does: uniform in ``±1/sqrt(fan_in)`` with
    ``fan_in = in_channels // groups * prod(kernel_size)``. ``stride``/``dilation`` are ints or
    one per spatial axis; ``padding`` an int, one int per axis, (low, high) pairs, or
    ``'SAME'``/``'VALID'``. ``groups`` must divide both channel counts.
    """

    weight: Array
    bias: Array | None
    num_spatial_dims: int = field(static=True)
    in_channels: int = field(static=True)
    out_channels: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: Padding = field(static=True)
    dilation: tuple[int, ...] = field(static=True)
    groups: int = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: PaddingLike = 0, dilation: int | Sequence[int] = 1, groups: int = 1,
                 use_bias: bool = True, *, key: Array, dtype: Any = None):
        name = type(self).__name__
        n = self.num_spatial_dims = _checks.size(num_spatial_dims, "num_spatial_dims", name, 1)
        self.in_channels = _checks.size(in_channels, "in_channels", name, 1)
        self.out_channels = _checks.size(out_channels, "out_channels", name, 1)
        self.kernel_size = _checks.sizes(kernel_size, n, "kernel_size", name)
        self.stride = _checks.sizes(stride, n, "stride", name)
        self.dilation = _checks.sizes(dilation, n, "dilation", name)
        self.padding = normalize_padding(padding, n, name)
        self.groups = _checks.size(groups, "groups", name, 1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: groups={self.groups} must divide in_channels="
                             f"{self.in_channels} and out_channels={self.out_channels}")
        self.use_bias = bool(use_bias)
        fan_in = self.in_channels // self.groups * math.prod(self.kernel_size)
        wkey, bkey = random.split(key)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = uniform_fan_in(wkey, shape, fan_in, dtype)
        self.bias = (uniform_fan_in(bkey, (self.out_channels,), fan_in, dtype)
                     if self.use_bias else None)

    @typecheck
    def __call__(self, x: Float[Array, "..."], *, key: Any = None) -> Float[Array, "..."]:
        """Convolve ``x`` (``(C, *spatial)`` or ``(N, C, *spatial)``); ``key`` is ignored.
        Raises TypeCheckError for a wrong rank or channel count."""
        del key
        return self._convolve(x)

    def _convolve(self, x: Array) -> Array:
        n = self.num_spatial_dims
        spatial = ", ".join("LHWD"[i + (n > 1)] if n <= 3 else f"S{i}" for i in range(n))
        _checks.input_rank(self, x, (n + 1, n + 2), f"(C, {spatial}) or (N, C, {spatial})")
        unbatched = x.ndim == n + 1
        if unbatched:
            x = lax.expand_dims(x, (0,))
        _checks.input_size(self, x, 1, "in_channels", self.in_channels)
        y = lax.conv_general_dilated(x, self.weight, self.stride, self.padding,
                                     rhs_dilation=self.dilation,
                                     feature_group_count=self.groups)
        if self.bias is not None:
            y = y + lax.broadcast_in_dim(self.bias, y.shape, (1,))
        return lax.squeeze(y, (0,)) if unbatched else y


class Conv1d(Conv):
    """1-d convolution of ``(C, L)`` or ``(N, C, L)`` inputs (see :class:`Conv`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: PaddingLike = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, use_bias: bool = True, *,
                 key: Array, dtype: Any = None):
        super().__init__(1, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, use_bias, key=key, dtype=dtype)

    @typecheck
    def __call__(self, x: Float[Array, "*batch channels length"], *, key: Any = None
                 ) -> Float[Array, "*batch out_channels out_length"]:
        """Convolve ``x`` (``(C, L)`` or ``(N, C, L)``); ``key`` is ignored. Raises
        TypeCheckError for a wrong rank or channel count."""
        del key
        return self._convolve(x)


class Conv2d(Conv):
    """2-d convolution of ``(C, H, W)`` or ``(N, C, H, W)`` inputs (see :class:`Conv`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: PaddingLike = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, use_bias: bool = True, *,
                 key: Array, dtype: Any = None):
        super().__init__(2, in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, use_bias, key=key, dtype=dtype)

    @typecheck
    def __call__(self, x: Float[Array, "*batch channels height width"], *, key: Any = None
                 ) -> Float[Array, "*batch out_channels out_height out_width"]:
        """Convolve ``x`` (``(C, H, W)`` or ``(N, C, H, W)``); ``key`` is ignored. Raises
        TypeCheckError for a wrong rank or channel count."""
        del key
        return self._convolve(x)

