"""Mini-batches over arrays that share a leading dimension, shuffled with an fborn PRNG key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from fborn import random

__all__ = ["Batches", "batches"]


class Batches:
    """One epoch of mini-batches (see :func:`batches`); iterate it, ``len()`` gives the number of
    batches. Iterating twice gives the same batches in the same order."""

    def __init__(self, key: Any, arrays: Sequence[Any], batch_size: int, shuffle: bool,
                 drop_last: bool):
        if not isinstance(arrays, (tuple, list)) or not arrays:
            raise TypeError("arrays must be a non-empty tuple or list of arrays (for one array "
                            "x, pass (x,))")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        sizes = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"arrays must share a leading dimension; got shapes {shapes}")
        self.num_examples: int = sizes[0]
        self.batch_size = batch_size
        self.drop_last = drop_last
        if shuffle:
            if key is None:
                raise ValueError("shuffle=True needs a PRNG key (or pass shuffle=False)")
            self.order = np.asarray(random.permutation(key, self.num_examples))
        else:
            self.order = np.arange(self.num_examples)

    def __len__(self) -> int:
        full, rest = divmod(self.num_examples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = self.order[start:start + self.batch_size]
            batch = tuple(a[idx] for a in self.arrays)
            if self.drop_last:
                yield batch
                continue
            pad = self.batch_size - len(idx)
            mask = np.arange(self.batch_size) < len(idx)
            if pad:
                batch = tuple(np.concatenate([b, np.zeros((pad, *b.shape[1:]), b.dtype)])
                              for b in batch)
            yield (*batch, mask)


def batches(key: Any, arrays: Sequence[Any], batch_size: int, *, shuffle: bool = True,
            drop_last: bool = True) -> Batches:
    """Mini-batches of ``arrays`` (fborn or numpy arrays sharing a leading size N) for one epoch.

    Each batch is a tuple of numpy arrays, one per input, of ``batch_size`` rows. With
    ``shuffle`` the examples are taken in the order of ``fborn.random.permutation(key, N)``
    (pass a new key each epoch, e.g. ``fborn.random.fold_in(key, epoch)``); without it, in
    order (``key`` may be None). ``drop_last=True`` skips a last partial batch;
    ``drop_last=False`` zero-pads it to ``batch_size`` rows and every batch then ends with a
    bool mask of shape ``(batch_size,)`` marking the real rows, so a jitted step sees one shape::

        for epoch in range(epochs):
            for x, y in batches(fborn.random.fold_in(key, epoch), (images, labels), 32):
                params, opt_state = step(params, opt_state, x, y)

    Raises TypeError for ``arrays`` that is not a tuple/list, ValueError for a bad
    ``batch_size`` or mismatched leading sizes.
    """
    return Batches(key, arrays, batch_size, shuffle, drop_last)
