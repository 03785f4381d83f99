"""Loss functions with the names, signatures and semantics of ``optax`` losses.

Each returns per-example losses (no mean is taken) except ``mse``, the mean squared error over
every element. Cross-entropies work on shifted logits, so logits of 1e4 give finite losses and
finite gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import fborn.numpy as fnp
from fborn import lax
from fborn.core import dtypes
from fborn.core.array import Array
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.nn.activations import log_sigmoid, log_softmax
from fborn.numpy import _util
from fborn.numpy._ufuncs import check_arraylike
from fborn.numpy._util import ArrayLike

__all__ = [
    "huber_loss", "l2_loss", "mse", "sigmoid_binary_cross_entropy", "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels", "squared_error",
]

Axis = int | Sequence[int] | None


def _float_array(name: str, what: str, x: ArrayLike) -> Array:
    """``x`` as an Array that must be floating (FbornDtypeError otherwise)."""
    check_arraylike(name, x)
    x = _util.asarray(x)
    if not dtypes.is_float(x.dtype):
        raise FbornDtypeError(f"{name}: {what} must be floating, got dtype {x.dtype}")
    return x


def _expand_where(where: ArrayLike | None, ndim: int, axes: tuple[int, ...]) -> Array | None:
    """A ``where`` mask given per example (without the class ``axes``) gets those axes back."""
    if where is None:
        return None
    mask = _util.asarray(where)
    return lax.expand_dims(mask, axes) if mask.ndim != ndim else mask


# --- classification ------------------------------------------------------------------------------


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, axis: Axis = -1,
                          where: ArrayLike | None = None) -> Array:
    """``-sum(labels * log_softmax(logits), axis)``: the cross-entropy between the softmax of
    ``logits`` and target distributions ``labels`` (one-hot or probabilities).

    Shapes: ``labels`` broadcasts to ``logits.shape`` (e.g. both ``(N, C)``); the result has
    ``logits.shape`` without ``axis``. ``where`` (per example, or ``logits.shape``) leaves
    elements out. Entries with label 0 contribute 0 even where a logit is ``-inf`` (optax gives
    NaN there). Raises FbornDtypeError for integer logits, and FbornShapeError when ``labels``
    do not broadcast to ``logits`` or look like integer class indices (use
    ``softmax_cross_entropy_with_integer_labels`` for those).
    """
    name = "softmax_cross_entropy"
    logits = _float_array(name, "logits", logits)
    check_arraylike(name, labels)
    labels = _util.asarray(labels)
    _check_target_shape(name, logits, labels)
    axes = _util.canonicalize_axes(axis, logits.ndim)
    mask = _expand_where(where, logits.ndim, axes)
    log_probs = log_softmax(logits, axes, mask)
    terms = fnp.where(labels == 0, 0, labels * log_probs)
    return -fnp.sum(terms, axes, where=mask)


def _check_target_shape(name: str, logits: Array, labels: Array) -> None:
    if not (dtypes.is_float(labels.dtype) or labels.ndim == logits.ndim):
        raise FbornShapeError(
            f"{name}: labels of shape {labels.shape} and dtype {labels.dtype} look like integer "
            f"class indices for logits of shape {logits.shape}; pass one-hot or probability "
            f"labels of the logits' shape, or use softmax_cross_entropy_with_integer_labels")
    try:
        fits = _util.broadcast_shapes(labels.shape, logits.shape) == logits.shape
    except FbornShapeError:
        fits = False
    if not fits:
        raise FbornShapeError(f"{name}: labels of shape {labels.shape} do not broadcast to the "
                              f"logits' shape {logits.shape}")


def _flatten_class_axes(logits: Array, mask: Array | None, axes: tuple[int, ...]
                        ) -> tuple[Array, Array | None]:
    """Move the class ``axes`` last (in order) and flatten them into one."""
    batch = tuple(i for i in range(logits.ndim) if i not in axes)
    order = batch + axes

    def flat(x: Array) -> Array:
        x = lax.transpose(x, order)
        return lax.reshape(x, x.shape[:len(batch)] + (int(np.prod(x.shape[len(batch):])),))

    if mask is not None:
        mask = flat(_util.broadcast_to(_util.asarray(mask, dtype=bool), logits.shape))
    return flat(logits), mask


def _integer_labels(name: str, logits: Array, labels: ArrayLike, axis: int) -> Array:
    check_arraylike(name, labels)
    labels = _util.asarray(labels)
    if not dtypes.is_int(labels.dtype):
        raise FbornDtypeError(
            f"{name}: labels must be integer class indices, got dtype {labels.dtype}; for "
            f"one-hot or probability labels use softmax_cross_entropy")
    expected = logits.shape[:axis] + logits.shape[axis + 1:]
    if labels.shape != expected:
        raise FbornShapeError(
            f"{name}: labels must have the logits' shape {logits.shape} without the class axis "
            f"{axis}, i.e. {expected}; got {labels.shape}")
    return labels


def softmax_cross_entropy_with_integer_labels(logits: ArrayLike, labels: ArrayLike,
                                              axis: int | tuple[int, ...] = -1,
                                              where: ArrayLike | None = None) -> Array:
    """``logsumexp(logits, axis) - logits[label]``: the cross-entropy of the softmax of
    ``logits`` against integer class ``labels``.

    Shapes: ``logits`` ``(..., C)`` (classes along ``axis``; a tuple of axes is flattened, and
    a label is then a flat index into them), ``labels`` ``(...)``, the logits' shape without
    ``axis``; the result has that shape too. As in optax, a negative label ``-C <= y < 0``
    counts from the end and any other label outside ``[0, C)`` gives NaN. ``where`` (per
    example, or ``logits.shape``) leaves classes out of the normalizer; a fully masked example
    gives 0. Raises FbornDtypeError unless logits are floating and labels integers, and
    FbornShapeError for a wrong labels shape.
    """
    name = "softmax_cross_entropy_with_integer_labels"
    logits = _float_array(name, "logits", logits)
    if isinstance(axis, tuple):
        axes = _util.canonicalize_axes(axis, logits.ndim)
        logits, mask = _flatten_class_axes(logits, _expand_where(where, logits.ndim, axes), axes)
        axis = logits.ndim - 1
    elif isinstance(axis, (int, np.integer)):
        axis = _util.canonicalize_axis(axis, logits.ndim)
        mask = _expand_where(where, logits.ndim, (axis,))
    else:
        raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
    labels = _integer_labels(name, logits, labels, axis)
    if labels.dtype.itemsize < 4:  # so that every class index is representable
        labels = _util.convert(labels, dtypes.canonicalize(np.int32), weak=False)
    num_classes = logits.shape[axis]
    if dtypes.is_signed(labels.dtype):
        labels = fnp.where(labels < 0, labels + num_classes, labels)
    valid = (labels >= 0) & (labels < num_classes)
    shift = _finite_max(logits, axis, mask)
    shifted = logits - lax.expand_dims(shift, (axis,))
    masked = shifted if mask is None else fnp.where(mask, shifted, -np.inf)
    log_normalizer = fnp.log(fnp.sum(fnp.exp(masked), axis))
    classes = lax.broadcasted_iota(labels.dtype, logits.shape, axis)
    is_label = lax.expand_dims(labels, (axis,)) == classes
    label_logit = fnp.sum(fnp.where(is_label, shifted, 0), axis)
    out = fnp.where(valid, log_normalizer - label_logit, np.nan)
    if mask is not None:
        out = fnp.where(fnp.any(mask, axis), out, 0)
    return out


def _finite_max(x: Array, axis: int, mask: Array | None) -> Array:
    """The maximum of ``stop_gradient(x)`` over ``axis`` (of the unmasked elements), 0 where
    it is infinite or the slice is empty (the shift cancels, so it needs no derivative)."""
    x = lax.stop_gradient(x)
    initial = -np.inf if mask is not None or x.shape[axis] == 0 else None
    x_max = fnp.max(x, axis, where=mask, initial=initial)
    return fnp.where(fnp.isfinite(x_max), x_max, 0)


def sigmoid_binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """``-labels * log_sigmoid(logits) - (1 - labels) * log_sigmoid(-logits)``, elementwise:
    independent binary cross-entropies (labels in {0, 1} or probabilities), finite for
    logits of any size. ``labels`` are cast to the logits' dtype and broadcast with them;
    integer logits raise FbornDtypeError."""
    name = "sigmoid_binary_cross_entropy"
    logits = _float_array(name, "logits", logits)
    check_arraylike(name, labels)
    labels = _util.asarray(labels, dtype=logits.dtype)
    return -labels * log_sigmoid(logits) - (1.0 - labels) * log_sigmoid(-logits)


# --- regression ----------------------------------------------------------------------------------


def _errors(name: str, predictions: ArrayLike, targets: ArrayLike | None) -> Array:
    """``predictions - targets`` (or ``predictions``); shapes must be equal, so an ``(N, 1)``
    prediction is never silently broadcast against ``(N,)`` targets."""
    predictions = _float_array(name, "predictions", predictions)
    if targets is None:
        return predictions
    check_arraylike(name, targets)
    targets = _util.asarray(targets)
    if targets.shape != predictions.shape:
        raise FbornShapeError(f"{name}: predictions of shape {predictions.shape} and targets of "
                              f"shape {targets.shape} must have equal shapes")
    return predictions - targets


def squared_error(predictions: ArrayLike, targets: ArrayLike | None = None) -> Array:
    """``(predictions - targets) ** 2`` elementwise (``targets`` default to zeros). Shapes must
    be equal (FbornShapeError); integer predictions raise FbornDtypeError."""
    return lax.square(_errors("squared_error", predictions, targets))


def l2_loss(predictions: ArrayLike, targets: ArrayLike | None = None) -> Array:
    """``0.5 * squared_error(predictions, targets)``."""
    return 0.5 * lax.square(_errors("l2_loss", predictions, targets))


def mse(predictions: ArrayLike, targets: ArrayLike) -> Array:
    """The mean squared error: ``mean((predictions - targets) ** 2)`` over every element, a
    scalar (NaN for empty inputs). Shapes must be equal."""
    return fnp.mean(lax.square(_errors("mse", predictions, targets)))


def huber_loss(predictions: ArrayLike, targets: ArrayLike | None = None, *,
               delta: ArrayLike = 1.0) -> Array:
    """The Huber loss elementwise: ``0.5 e^2`` for ``|e| <= delta``, ``delta (|e| - delta / 2)``
    beyond, with ``e = predictions - targets``; its gradient is ``e`` clipped to
    ``[-delta, delta]``. Shapes must be equal (optax would broadcast here)."""
    abs_errors = fnp.abs(_errors("huber_loss", predictions, targets))
    quadratic = fnp.minimum(abs_errors, delta)
    return 0.5 * lax.square(quadratic) + delta * (abs_errors - quadratic)
