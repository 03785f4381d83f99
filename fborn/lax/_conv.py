"""``fborn.lax`` convolutions: ``conv_general_dilated`` and its simpler forms (jax.lax names)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from fborn.core import dtypes
from fborn.core.array import Array
from fborn.core.errors import FbornShapeError
from fborn.core.trace import to_array
from fborn.primitives import conv as _conv
from fborn.primitives import shape as _shape
from fborn.primitives.conv import ConvDimensionNumbers

__all__ = [
    "ConvDimensionNumbers", "conv", "conv_dimension_numbers", "conv_general_dilated",
    "conv_transpose", "conv_with_general_padding", "padtype_to_pads",
]

DimensionNumbersLike = ConvDimensionNumbers | tuple[str, str, str] | None
Padding = str | Sequence[tuple[int, int]]


def _spec_from_string(spec: str, rhs_spec: str, lead: tuple[str, str]) -> tuple[int, ...]:
    """Axis positions of ``lead`` then of the spatial letters, in ``rhs_spec``'s order."""
    spatial = sorted((i for i, ch in enumerate(spec) if ch not in lead),
                     key=lambda i: rhs_spec.index(spec[i]))
    return (spec.index(lead[0]), spec.index(lead[1]), *spatial)


def _check_string_specs(lhs: str, rhs: str, out: str, ndim: int) -> None:
    specs = {"lhs": (lhs, "NC"), "rhs": (rhs, "OI"), "out": (out, "NC")}
    for name, (spec, lead) in specs.items():
        if len(spec) != ndim or len(set(spec)) != ndim or not set(lead) <= set(spec):
            raise FbornShapeError(
                f"{name} spec {spec!r} must name each of the {ndim} axes once and contain "
                f"{lead[0]!r} and {lead[1]!r}"
            )
    spatial = [set(spec) - set(lead) for spec, lead in specs.values()]
    if not spatial[0] == spatial[1] == spatial[2]:
        raise FbornShapeError(
            f"the spatial axes of the specs ({lhs!r}, {rhs!r}, {out!r}) do not match"
        )


def conv_dimension_numbers(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                           dimension_numbers: DimensionNumbersLike) -> ConvDimensionNumbers:
    """Normalize ``dimension_numbers`` (None for NCHW/OIHW/NCHW, a tuple of spec strings such
    as ``('NHWC', 'HWIO', 'NHWC')``, or ConvDimensionNumbers) to ConvDimensionNumbers.

    Raises FbornShapeError if the ranks differ or the specs do not fit them.
    """
    ndim = len(lhs_shape)
    if ndim != len(rhs_shape) or ndim < 2:
        raise FbornShapeError(
            f"convolution operands need equal ranks >= 2, got shapes {tuple(lhs_shape)} and "
            f"{tuple(rhs_shape)}"
        )
    if dimension_numbers is None:
        default = tuple(range(ndim))
        return ConvDimensionNumbers(default, default, default)
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return ConvDimensionNumbers(*(tuple(int(a) for a in s) for s in dimension_numbers))
    if len(dimension_numbers) != 3 or not all(isinstance(s, str) for s in dimension_numbers):
        raise TypeError(
            f"dimension_numbers must be None, ConvDimensionNumbers or a tuple of three spec "
            f"strings, got {dimension_numbers!r}"
        )
    lhs, rhs, out = dimension_numbers
    _check_string_specs(lhs, rhs, out, ndim)
    return ConvDimensionNumbers(_spec_from_string(lhs, rhs, ("N", "C")),
                                _spec_from_string(rhs, rhs, ("O", "I")),
                                _spec_from_string(out, rhs, ("N", "C")))


def padtype_to_pads(in_shape: Sequence[int], window_shape: Sequence[int],
                    window_strides: Sequence[int], padding: str) -> list[tuple[int, int]]:
    """(low, high) pads per spatial axis for ``'VALID'`` (none), ``'SAME'`` (output size
    ``ceil(in / stride)``, odd padding extra at the end) or ``'SAME_LOWER'`` (extra at the
    start). Raises RuntimeError for another string, as JAX does."""
    kind = padding.upper()
    if kind == "VALID":
        return [(0, 0)] * len(in_shape)
    if kind not in ("SAME", "SAME_LOWER"):
        raise RuntimeError(
            f"Unrecognized padding type: expected 'VALID', 'SAME', or 'SAME_LOWER', got {padding}."
        )
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides, strict=True):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if kind == "SAME" else (big, small))
    return pads


def _ints(values: Sequence[int] | None, count: int, name: str) -> tuple[int, ...]:
    if values is None:
        return (1,) * count
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError as e:
        raise TypeError(f"{name} must be a sequence of ints, got {values!r}") from e


def _explicit_padding(padding: Padding) -> tuple[tuple[int, int], ...]:
    try:
        return tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"padding must be 'SAME', 'VALID', 'SAME_LOWER' or a sequence of (low, high) "
            f"pairs, got {padding!r}"
        ) from e


def conv_general_dilated(lhs: Array, rhs: Array, window_strides: Sequence[int],
                         padding: Padding, lhs_dilation: Sequence[int] | None = None,
                         rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: DimensionNumbersLike = None,
                         feature_group_count: int = 1, batch_group_count: int = 1,
                         precision: Any = None, preferred_element_type: Any = None) -> Array:
    """General N-d convolution (cross-correlation) of ``lhs`` with kernel ``rhs``.

    ``padding`` is 'SAME'/'VALID'/'SAME_LOWER' or (low, high) pairs per spatial axis;
    ``dimension_numbers`` as in ``conv_dimension_numbers``. With feature groups G the lhs
    features split into G groups each convolved with O/G kernels; with batch groups B the batch
    splits into B blocks each feeding O/B output features. ``precision`` is accepted and
    ignored. Raises FbornShapeError/FbornDtypeError for operands that do not fit, ValueError for
    string padding with lhs dilation.
    """
    del precision
    x, w = to_array(lhs), to_array(rhs)
    dn = conv_dimension_numbers(x.shape, w.shape, dimension_numbers)
    nspatial = x.ndim - 2
    lhs_dil = _ints(lhs_dilation, nspatial, "lhs_dilation")
    rhs_dil = _ints(rhs_dilation, nspatial, "rhs_dilation")
    strides = _ints(window_strides, nspatial, "window_strides")
    if isinstance(padding, str):
        if any(d != 1 for d in lhs_dil):
            raise ValueError(
                "string padding is not supported with lhs_dilation (a transposed "
                "convolution); give explicit (low, high) pairs or use conv_transpose"
            )
        window = [_conv.dilate_dim(w.shape[a], d) for a, d in zip(dn.rhs_spec[2:], rhs_dil,
                                                                  strict=True)]
        in_shape = [x.shape[a] for a in dn.lhs_spec[2:]]
        pads = tuple(padtype_to_pads(in_shape, window, strides, padding))
    else:
        pads = _explicit_padding(padding)
    pet = None if preferred_element_type is None else dtypes.canonicalize(preferred_element_type)
    return _conv.conv_general_dilated_p.bind(
        x, w, window_strides=strides, padding=pads, lhs_dilation=lhs_dil, rhs_dilation=rhs_dil,
        dimension_numbers=dn, feature_group_count=operator.index(feature_group_count),
        batch_group_count=operator.index(batch_group_count), preferred_element_type=pet,
    )


def conv(lhs: Array, rhs: Array, window_strides: Sequence[int], padding: str,
         precision: Any = None, preferred_element_type: Any = None) -> Array:
    """Convolution of NCHW-style ``lhs`` with OIHW-style ``rhs`` (no dilation, no groups)."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs: Array, rhs: Array, window_strides: Sequence[int],
                              padding: Padding, lhs_dilation: Sequence[int] | None,
                              rhs_dilation: Sequence[int] | None, precision: Any = None,
                              preferred_element_type: Any = None) -> Array:
    """NCHW/OIHW convolution with explicit padding and dilations."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                rhs_dilation=rhs_dilation, precision=precision,
                                preferred_element_type=preferred_element_type)


_TRANSPOSE_DEFAULT_SPECS = {
    2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"), 4: ("NHWC", "HWIO", "NHWC"),
    5: ("NHWDC", "HWDIO", "NHWDC"),
}


def _transpose_padding(k: int, s: int, padding: str | tuple[int, int]) -> tuple[int, int]:
    """Pads of the dilated convolution that transposes a forward conv with ``padding``."""
    if padding == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else math.ceil(total / 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    elif isinstance(padding, tuple):
        low, high = (k - p - 1 for p in padding)
        total = low + high
    else:
        raise ValueError(f"conv_transpose padding must be 'SAME', 'VALID' or pairs, got "
                         f"{padding!r}")
    return low, total - low


def conv_transpose(lhs: Array, rhs: Array, strides: Sequence[int], padding: Padding,
                   rhs_dilation: Sequence[int] | None = None,
                   dimension_numbers: DimensionNumbersLike = None,
                   transpose_kernel: bool = False, precision: Any = None,
                   preferred_element_type: Any = None,
                   use_consistent_padding: bool = False) -> Array:
    """Transposed convolution (the gradient of a strided conv): ``lhs`` is dilated by
    ``strides``. Default layouts are NHWC/HWIO/NHWC-style; 'SAME'/'VALID' (or, with
    ``use_consistent_padding``, explicit pairs) name the forward convolution's padding, explicit
    pairs otherwise pad the dilated input directly. ``transpose_kernel`` flips the kernel's
    spatial axes and swaps its I/O axes."""
    x, w = to_array(lhs), to_array(rhs)
    no_default = dimension_numbers is None and x.ndim not in _TRANSPOSE_DEFAULT_SPECS
    if x.ndim != w.ndim or no_default:
        raise FbornShapeError(
            f"conv_transpose needs operands of equal rank 2..5 (or explicit dimension_numbers), "
            f"got shapes {x.shape} and {w.shape}"
        )
    specs = _TRANSPOSE_DEFAULT_SPECS.get(x.ndim) if dimension_numbers is None \
        else dimension_numbers
    dn = conv_dimension_numbers(x.shape, w.shape, specs)
    nspatial = x.ndim - 2
    rhs_dil = _ints(rhs_dilation, nspatial, "rhs_dilation")
    strides = _ints(strides, nspatial, "strides")
    pads: Padding
    if use_consistent_padding or (isinstance(padding, str) and padding in ("SAME", "VALID")):
        per_axis = [padding] * nspatial if isinstance(padding, str) else \
            [tuple(p) for p in _explicit_padding(padding)]
        window = [_conv.dilate_dim(w.shape[a], d) for a, d in zip(dn.rhs_spec[2:], rhs_dil,
                                                                  strict=True)]
        pads = tuple(_transpose_padding(k, s, p)
                     for k, s, p in zip(window, strides, per_axis, strict=True))
    else:
        pads = padding
    if transpose_kernel:
        w = _shape.rev_p.bind(w, dimensions=tuple(sorted(dn.rhs_spec[2:])))
        perm = list(range(w.ndim))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = dn.rhs_spec[1], dn.rhs_spec[0]
        w = _shape.transpose_p.bind(w, permutation=tuple(perm))
    return conv_general_dilated(x, w, (1,) * nspatial, pads, lhs_dilation=strides,
                                rhs_dilation=rhs_dil, dimension_numbers=dn, precision=precision,
                                preferred_element_type=preferred_element_type)
