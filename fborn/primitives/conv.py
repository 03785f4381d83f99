"""``conv_general_dilated``: N-d convolution (cross-correlation, as in XLA) with strides, padding,
input (lhs) and kernel (rhs) dilation, feature groups and batch groups.

``dimension_numbers`` is a ``ConvDimensionNumbers(lhs_spec, rhs_spec, out_spec)``: ``lhs_spec``
lists the lhs axes holding (batch, feature, spatial...), ``rhs_spec`` the kernel axes holding
(out feature, in feature, spatial...), ``out_spec`` the output axes holding (batch, feature,
spatial...). Spatial parameters (strides, padding, dilations) follow the spatial order of the
specs. An output spatial size is ``(padded - window) // stride + 1`` (0 when the window does not
fit), with ``padded = (in - 1) * lhs_dilation + 1 + low + high`` and
``window = (k - 1) * rhs_dilation + 1``; negative padding crops.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fborn.core import dtypes
from fborn.core.aval import ShapedArray
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.core.primitive import Primitive
from fborn.primitives._checks import check_dtype_kind, shapes_str


class ConvDimensionNumbers(NamedTuple):
    """Axis permutations of a convolution: each spec lists (batch-or-out-feature, feature,
    spatial...) axis positions of lhs, rhs and output."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


conv_general_dilated_p = Primitive("conv_general_dilated")


def dilate_dim(size: int, dilation: int) -> int:
    """The size of an axis of ``size`` elements with ``dilation - 1`` zeros between them."""
    return 0 if size == 0 else 1 + dilation * (size - 1)


def conv_out_spatial(in_sizes: tuple[int, ...], window: tuple[int, ...],
                     window_strides: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                     lhs_dilation: tuple[int, ...], rhs_dilation: tuple[int, ...]
                     ) -> tuple[int, ...]:
    """Output spatial sizes of a convolution (0 where the window does not fit)."""
    out = []
    for n, k, s, (lo, hi), ld, rd in zip(in_sizes, window, window_strides, padding,
                                         lhs_dilation, rhs_dilation, strict=True):
        padded = dilate_dim(n, ld) + lo + hi
        if padded < 0:
            raise FbornShapeError(
                f"negative padding {padding} is larger than the (dilated) input spatial size "
                f"{tuple(in_sizes)}"
            )
        out.append(max(0, (padded - dilate_dim(k, rd)) // s + 1))
    return tuple(out)


def _check_specs(lhs: ShapedArray, rhs: ShapedArray, dn: ConvDimensionNumbers) -> None:
    if lhs.ndim != rhs.ndim or lhs.ndim < 2:
        raise FbornShapeError(
            f"lhs and rhs must have the same rank (>= 2), got {shapes_str((lhs, rhs))}"
        )
    for name, spec in zip(("lhs_spec", "rhs_spec", "out_spec"), dn, strict=True):
        if sorted(spec) != list(range(lhs.ndim)):
            raise FbornShapeError(
                f"dimension_numbers.{name}={tuple(spec)} is not a permutation of the "
                f"{lhs.ndim} axes of {shapes_str((lhs, rhs))}"
            )


def _check_params(nspatial: int, window_strides: tuple[int, ...],
                  padding: tuple[tuple[int, int], ...], lhs_dilation: tuple[int, ...],
                  rhs_dilation: tuple[int, ...]) -> None:
    for name, value in (("window_strides", window_strides), ("padding", padding),
                        ("lhs_dilation", lhs_dilation), ("rhs_dilation", rhs_dilation)):
        if len(value) != nspatial:
            raise FbornShapeError(
                f"{name}={tuple(value)} needs one entry per spatial axis ({nspatial})"
            )
    for name, value in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                        ("rhs_dilation", rhs_dilation)):
        if any(v < 1 for v in value):
            raise FbornShapeError(f"{name}={tuple(value)} must be positive")


def _check_groups(lhs_shape: tuple[int, ...], rhs_shape: tuple[int, ...],
                  feature_group_count: int, batch_group_count: int) -> None:
    """``lhs_shape``/``rhs_shape`` in canonical (N, C, ...) / (O, I, ...) order."""
    (n, c), (o, i) = lhs_shape[:2], rhs_shape[:2]
    if feature_group_count < 1 or batch_group_count < 1:
        raise FbornShapeError(
            f"feature_group_count={feature_group_count} and batch_group_count="
            f"{batch_group_count} must be positive integers"
        )
    if feature_group_count > 1 and batch_group_count > 1:
        raise FbornShapeError("feature_group_count and batch_group_count cannot both exceed 1")
    if c % feature_group_count:
        raise FbornShapeError(
            f"lhs feature size {c} is not divisible by feature_group_count={feature_group_count}"
        )
    if c != i * feature_group_count:
        raise FbornShapeError(
            f"lhs feature size {c} must equal rhs input feature size {i} times "
            f"feature_group_count={feature_group_count}"
        )
    for count, name in ((feature_group_count, "feature_group_count"),
                        (batch_group_count, "batch_group_count")):
        if o % count:
            raise FbornShapeError(
                f"rhs output feature size {o} is not divisible by {name}={count}"
            )
    if n % batch_group_count:
        raise FbornShapeError(
            f"lhs batch size {n} is not divisible by batch_group_count={batch_group_count}"
        )


@conv_general_dilated_p.def_abstract_eval
def _conv_abstract(lhs: ShapedArray, rhs: ShapedArray, *, window_strides: tuple[int, ...],
                   padding: tuple[tuple[int, int], ...], lhs_dilation: tuple[int, ...],
                   rhs_dilation: tuple[int, ...], dimension_numbers: ConvDimensionNumbers,
                   feature_group_count: int, batch_group_count: int,
                   preferred_element_type: np.dtype | None) -> ShapedArray:
    _check_specs(lhs, rhs, dimension_numbers)
    if lhs.dtype != rhs.dtype:
        raise FbornDtypeError(f"lhs and rhs must have equal dtypes, got {shapes_str((lhs, rhs))}")
    check_dtype_kind(lhs, "fiub")
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    lhs_c = tuple(lhs.shape[a] for a in lhs_spec)
    rhs_c = tuple(rhs.shape[a] for a in rhs_spec)
    _check_params(lhs.ndim - 2, window_strides, padding, lhs_dilation, rhs_dilation)
    _check_groups(lhs_c, rhs_c, feature_group_count, batch_group_count)
    spatial = conv_out_spatial(lhs_c[2:], rhs_c[2:], window_strides, padding, lhs_dilation,
                               rhs_dilation)
    canonical = (lhs_c[0] // batch_group_count, rhs_c[0], *spatial)
    shape = [0] * lhs.ndim
    for axis, size in zip(out_spec, canonical, strict=True):
        shape[axis] = size
    dtype = preferred_element_type or lhs.dtype
    weak = lhs.weak_type and rhs.weak_type and preferred_element_type is None
    return ShapedArray(tuple(shape), dtype, weak)


def _work_dtype(in_dtype: np.dtype, out_dtype: np.dtype) -> np.dtype:
    """Accumulate 16-bit floats in float32 and integers/bools in 64 bits (wrapping on output)."""
    if dtypes.is_float(out_dtype) or dtypes.is_float(in_dtype):
        return np.dtype(np.float64) if np.float64 in (in_dtype, out_dtype) else np.float32
    return np.dtype(np.uint64) if np.uint64 in (in_dtype, out_dtype) else np.int64


def _dilate_and_pad(x: np.ndarray, padding: tuple[tuple[int, int], ...],
                    lhs_dilation: tuple[int, ...]) -> np.ndarray:
    """Insert ``dilation - 1`` zeros between spatial elements of (N, C, *S) ``x``, then pad
    (negative amounts crop)."""
    inner = [dilate_dim(n, d) for n, d in zip(x.shape[2:], lhs_dilation, strict=True)]
    grown = np.zeros((*x.shape[:2], *inner), dtype=x.dtype)
    grown[(slice(None), slice(None), *(slice(None, None, d) for d in lhs_dilation))] = x
    widths = [(0, 0), (0, 0), *((max(lo, 0), max(hi, 0)) for lo, hi in padding)]
    out = np.pad(grown, widths)
    crop = tuple(slice(max(-lo, 0), out.shape[2 + i] - max(-hi, 0))
                 for i, (lo, hi) in enumerate(padding))
    return out[(slice(None), slice(None), *crop)]


def _grouped_conv(x: np.ndarray, w: np.ndarray, out_spatial: tuple[int, ...],
                  window_strides: tuple[int, ...], rhs_dilation: tuple[int, ...],
                  groups: int) -> np.ndarray:
    """(N, C, *P) padded input and (O, C/groups, *K) kernel -> (N, O, *out_spatial)."""
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    nsp = len(out_spatial)
    window = tuple(dilate_dim(k, d) for k, d in zip(w.shape[2:], rhs_dilation, strict=True))
    # Sliding windows: (N, C, *positions, *window), then subsample positions by the strides and
    # window offsets by the kernel dilation.
    views = np.lib.stride_tricks.sliding_window_view(x, window, axis=tuple(range(2, 2 + nsp)))
    pick = (slice(None), slice(None),
            *(slice(None, s * (m - 1) + 1, s) for s, m in zip(window_strides, out_spatial,
                                                              strict=True)),
            *(slice(None, None, d) for d in rhs_dilation))
    patches = views[pick].reshape(n, groups, cg, *out_spatial, *w.shape[2:])
    kernel = w.reshape(groups, o // groups, cg, *w.shape[2:])
    letters = "abcdefghijklmnopqrstuvwxyz"
    pos, win = letters[:nsp], letters[nsp:2 * nsp]
    out = np.einsum(f"NGC{pos}{win},GOC{win}->NGO{pos}", patches, kernel, optimize=True)
    return out.reshape(n, o, *out_spatial)


@conv_general_dilated_p.def_impl
def _conv_impl(lhs: np.ndarray, rhs: np.ndarray, *, window_strides: tuple[int, ...],
               padding: tuple[tuple[int, int], ...], lhs_dilation: tuple[int, ...],
               rhs_dilation: tuple[int, ...], dimension_numbers: ConvDimensionNumbers,
               feature_group_count: int, batch_group_count: int,
               preferred_element_type: np.dtype | None) -> np.ndarray:
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    out_dtype = preferred_element_type or lhs.dtype
    work = _work_dtype(lhs.dtype, out_dtype)
    x = np.transpose(lhs, lhs_spec).astype(work)
    w = np.transpose(rhs, rhs_spec).astype(work)
    spatial = conv_out_spatial(x.shape[2:], w.shape[2:], window_strides, padding, lhs_dilation,
                               rhs_dilation)
    n_out, o = x.shape[0] // batch_group_count, w.shape[0]
    if 0 in (*spatial, n_out, o, x.shape[1], *w.shape[2:]):
        out = np.zeros((n_out, o, *spatial), dtype=work)
    else:
        x = _dilate_and_pad(x, padding, lhs_dilation)
        if batch_group_count > 1:
            # Batch group g (a contiguous block of the batch) feeds output feature group g.
            b = batch_group_count
            x = x.reshape(b, n_out, *x.shape[1:]).swapaxes(0, 1)
            x = x.reshape(n_out, b * x.shape[2], *x.shape[3:])
        out = _grouped_conv(x, w, spatial, window_strides, rhs_dilation,
                            max(feature_group_count, batch_group_count))
    if out_dtype == np.bool_:
        out = out != 0
    inverse = tuple(out_spec.index(i) for i in range(out.ndim))
    return np.transpose(out, inverse).astype(out_dtype)


# --- transform rules ---------------------------------------------------------------------------
# The transposes are convolutions again (in the canonical NC.../OI... layout): the lhs cotangent
# correlates the stride-dilated output cotangent with the flipped kernel, the rhs cotangent
# correlates the input with the output cotangent, contracting over the batch.
from fborn.lax import _ops as lax  # noqa: E402
from fborn.primitives import rules  # noqa: E402


def _canonical_dn(ndim: int) -> ConvDimensionNumbers:
    axes = tuple(range(ndim))
    return ConvDimensionNumbers(axes, axes, axes)


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(perm.index(i) for i in range(len(perm)))


def _conv_jvp(primals: list, tangents: list, **params: object) -> tuple[object, object]:
    lhs, rhs = primals
    t_lhs, t_rhs = tangents
    out = conv_general_dilated_p.bind(lhs, rhs, **params)
    total: object = rules.Zero(rules.tangent_aval(out.aval))
    if type(t_lhs) is not rules.Zero:
        total = rules.add_tangents(total, conv_general_dilated_p.bind(t_lhs, rhs, **params))
    if type(t_rhs) is not rules.Zero:
        total = rules.add_tangents(total, conv_general_dilated_p.bind(lhs, t_rhs, **params))
    return out, total


def _transpose_lhs(ct: object, lhs: ShapedArray, rhs: object, *, window_strides: tuple,
                   padding: tuple, lhs_dilation: tuple, rhs_dilation: tuple,
                   dimension_numbers: ConvDimensionNumbers, feature_group_count: int,
                   batch_group_count: int) -> object:
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    g = lax.transpose(ct, out_spec)
    w = lax.convert_element_type(lax.transpose(rhs, rhs_spec), g.dtype)
    n, c, *spatial = (lhs.shape[a] for a in lhs_spec)
    o, i, *kernel = w.shape
    groups = max(feature_group_count, batch_group_count)
    # Kernel of the transposed conv: (groups * I) out features, O / groups in features, flipped.
    nsp = len(kernel)
    w = lax.reshape(w, (groups, o // groups, i, *kernel))
    w = lax.transpose(w, (0, 2, 1, *range(3, 3 + nsp)))
    w = lax.rev(lax.reshape(w, (groups * i, o // groups, *kernel)), tuple(range(2, 2 + nsp)))
    pads = []
    for size, k, p, (lo, _), s, ld, rd in zip(spatial, kernel, g.shape[2:], padding,
                                              window_strides, lhs_dilation, rhs_dilation,
                                              strict=True):
        window = dilate_dim(k, rd)
        pads.append((window - 1 - lo, (size - 1) * ld + 1 + lo - dilate_dim(p, s)))
    out = conv_general_dilated_p.bind(
        g, w, window_strides=lhs_dilation, padding=tuple(pads), lhs_dilation=window_strides,
        rhs_dilation=rhs_dilation, dimension_numbers=_canonical_dn(lhs.ndim),
        feature_group_count=groups, batch_group_count=1, preferred_element_type=None)
    if batch_group_count > 1:
        nb = n // batch_group_count
        out = lax.reshape(out, (nb, batch_group_count, c, *spatial))
        out = lax.reshape(lax.transpose(out, (1, 0, *range(2, 3 + nsp))), (n, c, *spatial))
    out = lax.convert_element_type(out, lhs.dtype)
    return lax.transpose(out, _inverse(lhs_spec))


def _transpose_rhs(ct: object, lhs: object, rhs: ShapedArray, *, window_strides: tuple,
                   padding: tuple, lhs_dilation: tuple, rhs_dilation: tuple,
                   dimension_numbers: ConvDimensionNumbers, feature_group_count: int,
                   batch_group_count: int) -> object:
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    g = lax.transpose(ct, out_spec)
    x = lax.convert_element_type(lax.transpose(lhs, lhs_spec), g.dtype)
    kernel = [rhs.shape[a] for a in rhs_spec[2:]]
    pads = []
    for size, k, p, (lo, _), s, ld, rd in zip(x.shape[2:], kernel, g.shape[2:], padding,
                                              window_strides, lhs_dilation, rhs_dilation,
                                              strict=True):
        high = (k - 1) * rd + dilate_dim(p, s) - dilate_dim(size, ld) - lo
        pads.append((lo, high))
    # Batch and feature swap roles: x is (C as batch, N as feature), the cotangent is the
    # kernel (O out features, N' in features); feature and batch groups swap too.
    swapped = (1, 0, *range(2, x.aval.ndim))
    out = conv_general_dilated_p.bind(
        x, g, window_strides=rhs_dilation, padding=tuple(pads), lhs_dilation=lhs_dilation,
        rhs_dilation=window_strides,
        dimension_numbers=ConvDimensionNumbers(swapped, swapped, swapped),
        feature_group_count=batch_group_count, batch_group_count=feature_group_count,
        preferred_element_type=None)
    out = lax.convert_element_type(out, rhs.dtype)
    return lax.transpose(out, _inverse(rhs_spec))


def _conv_transpose(ct: object, lhs: object, rhs: object, **params: object) -> list:
    params = {k: v for k, v in params.items() if k != "preferred_element_type"}
    ct_lhs = ct_rhs = None
    if rules.is_undefined(lhs):
        aval = lhs.aval
        ct_lhs = rules.zeros_from_aval(aval) if 0 in (aval.size, ct.aval.size) else \
            _transpose_lhs(ct, aval, rhs, **params)
    if rules.is_undefined(rhs):
        aval = rhs.aval
        ct_rhs = rules.zeros_from_aval(aval) if 0 in (aval.size, ct.aval.size) else \
            _transpose_rhs(ct, lhs, aval, **params)
    return [ct_lhs, ct_rhs]


def _merge_axis(x: object, src: int, dst: int, minor: bool) -> object:
    """Fold axis ``src`` of ``x`` into axis ``dst`` (numbered without ``src``), as the fast
    (``minor``) or slow part of the merged index."""
    shape = x.aval.shape
    rest = [a for a in range(len(shape)) if a != src]
    order: list[int] = []
    for a in rest:
        order.extend(((a, src) if minor else (src, a)) if a == rest[dst] else (a,))
    merged = [shape[a] for a in rest]
    merged[dst] *= shape[src]
    return lax.reshape(lax.transpose(x, order), merged)


def _split_axis(x: object, axis: int, size: int, minor: bool) -> tuple[object, int]:
    """Split ``size`` off axis ``axis`` (its fast or slow part); returns the array and the new
    axis holding ``size``."""
    shape = list(x.aval.shape)
    parts = [shape[axis] // size, size] if minor else [size, shape[axis] // size]
    return lax.reshape(x, shape[:axis] + parts + shape[axis + 1:]), axis + int(minor)


def _conv_batch(axis: object, values: list, dims: list, **params: object) -> tuple[object, int]:
    lhs, rhs = values
    d_lhs, d_rhs = dims
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    size = axis.size
    if d_rhs is None:
        lhs = _merge_axis(lhs, d_lhs, lhs_spec[0], minor=True)
        out = conv_general_dilated_p.bind(lhs, rhs, **params)
        return _split_axis(out, out_spec[0], size, minor=True)
    if d_lhs is None:
        rhs = _merge_axis(rhs, d_rhs, rhs_spec[0], minor=True)
        out = conv_general_dilated_p.bind(lhs, rhs, **params)
        return _split_axis(out, out_spec[1], size, minor=True)
    if params["batch_group_count"] == 1:
        # One feature group per batch member: x channels and kernel outputs split by member.
        lhs = _merge_axis(lhs, d_lhs, lhs_spec[1], minor=False)
        rhs = _merge_axis(rhs, d_rhs, rhs_spec[0], minor=False)
        grouped = {**params, "feature_group_count": params["feature_group_count"] * size}
        out = conv_general_dilated_p.bind(lhs, rhs, **grouped)
        return _split_axis(out, out_spec[1], size, minor=False)
    lhs, rhs = rules.batch_at_front([lhs, rhs], [d_lhs, d_rhs], size)
    outs = []
    for b in range(size):
        one = [lax.squeeze(lax.slice_in_dim(v, b, b + 1, axis=0), (0,)) for v in (lhs, rhs)]
        outs.append(lax.expand_dims(conv_general_dilated_p.bind(*one, **params), (0,)))
    return lax.concatenate(outs, 0), 0


conv_general_dilated_p.jvp = _conv_jvp
conv_general_dilated_p.transpose = _conv_transpose
conv_general_dilated_p.batch = _conv_batch
